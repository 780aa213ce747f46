# redis for scripts/services (see services-common.sh for the contract).
#
# One private redis-server (Debian's) listening on 127.0.0.1 only, on the port
# remembered in DIR/redis/port; data, pidfile and log in DIR/redis. It never
# reads a system config file and never touches the system Redis (port 6379).
#
# Durability: appendonly yes + appendfsync always. Why: the gate is where a
# user is told "issued"; a Redis that restarts without the last admissions
# would hand the same seq (or a second coupon) out again. With `always`, Redis
# fsyncs the AOF before it answers, once per event-loop turn, so a pipelined
# batch of admissions shares one fsync. RDB snapshots are off (`--save ""`):
# the AOF is the one source of truth and forks would only add latency spikes.

_redis_ping() {  # PORT
  [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
}

svc_redis_start() {  # DIR
  local dir="$1" r="$1/redis" port
  port="$(service_port "$dir" redis)"
  if svc_redis_running "$dir"; then return 0; fi
  mkdir -p "$r"
  # daemonize: redis-server forks, writes the pidfile and outlives this shell.
  redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes \
    --dir "$r" --appendonly yes --appendfsync always --save "" \
    --daemonize yes --pidfile "$r/redis.pid" --logfile "$r/redis.log" \
    --databases 16 --maxclients 1000 \
    || { echo "redis: redis-server refused to start; see $r/redis.log" >&2; return 1; }
  if ! wait_until 30 _redis_ping "$port"; then
    echo "redis: no PONG on port $port after 30 s; see $r/redis.log" >&2
    return 1
  fi
  # The pidfile is written right after the fork; make sure stop can find it.
  wait_until 5 test -s "$r/redis.pid" || { echo "redis: no pidfile in $r" >&2; return 1; }
}

svc_redis_stop() {  # DIR
  # SIGTERM is Redis's clean shutdown: it flushes and fsyncs the AOF first.
  stop_pidfile "$1/redis/redis.pid" 20
}

svc_redis_running() {  # DIR
  pid_running "$1/redis/redis.pid"
}

svc_redis_env() {  # DIR
  echo "export FIRSTCOME_REDIS_URL=redis://127.0.0.1:$(cat "$1/redis/port")"
}
