# Helpers shared by bench/run, bench/compare-builds and bench/scaling (sourced).

# arg_of FLAG ARGS...: the value after FLAG in ARGS (nothing when absent).
arg_of() {
  local flag="$1" prev=""
  shift
  for a in "$@"; do
    if [ "$prev" = "$flag" ]; then
      echo "$a"
      return
    fi
    prev="$a"
  done
}

# wait_persisted URL EVENT: waits (at most 120 s) until the consumer has
# stored every admission of EVENT; 1 when it did not. A run's CPU is read
# after it: the consumer's catch-up after the load (it runs at nice 10 and is
# starved while the load runs) is part of an admission's cost, and the next
# run must not be charged with this one's backlog.
wait_persisted() {
  local body
  for _ in $(seq 1 1200); do
    body="$(curl -fsS --max-time 2 "$1/api/v1/events/$2" 2>/dev/null)" || true
    if [ -n "$body" ] && jq -e '.persisted >= .issued' >/dev/null 2>&1 <<<"$body"; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}
