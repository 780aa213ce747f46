# Shared pieces of scripts/services. Each service-NAME.sh defines
#   svc_NAME_start DIR    start (or restart on the port remembered in DIR/NAME/port), wait until ready
#   svc_NAME_stop DIR     stop, keep data
#   svc_NAME_running DIR  exit 0 when running
#   svc_NAME_env DIR      print export FIRSTCOME_...=... lines

# A free TCP port on 127.0.0.1 (bind to port 0, let the kernel choose).
free_port() {
  perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0) or die "no free port: $!"; print $s->sockport, "\n"'
}

# The port remembered for a service in DIR, or a new free one (remembered).
service_port() {  # DIR NAME [KEY]
  local f="$1/$2/${3:-port}"
  mkdir -p "$1/$2"
  if [ ! -s "$f" ]; then free_port > "$f"; fi
  cat "$f"
}

# Wait until a command succeeds, at most SECONDS.
wait_until() {  # SECONDS CMD...
  local limit=$1; shift
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# Stop the process whose pid is in FILE: TERM, wait, then KILL.
stop_pidfile() {  # FILE [SECONDS]
  local f="$1" wait_s="${2:-20}" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt $((wait_s * 5)) ]; do sleep 0.2; i=$((i + 1)); done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

pid_running() {  # FILE
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}
