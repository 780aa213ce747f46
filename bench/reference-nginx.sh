#!/usr/bin/env bash
# The ceiling of this machine for the benchmarks: a private nginx (Debian
# nginx-light) answering every request with a fixed 200 "ok", one worker,
# no access log, on a free loopback port, with its own prefix and config in a
# temporary folder. It runs in the foreground of a background process (no
# daemon), so its pid is the one we started and the one we stop.
#
#   bench/reference-nginx.sh start DIR   starts it; prints the URL (http://127.0.0.1:PORT)
#   bench/reference-nginx.sh stop DIR    stops it (SIGQUIT, then SIGKILL after 5 s)
#
#   NGINX_WORKERS=N                      N worker processes (default 1; bench/scaling)
#
# Never touches the system nginx (its config, pid file or port 80).
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

case "$cmd" in
  start)
    mkdir -p "$dir/logs" "$dir/tmp"
    port="$(free_port)"
    cat >"$dir/nginx.conf" <<CONF
# Reference server for bench/run: the cheapest HTTP answer this machine gives.
worker_processes ${NGINX_WORKERS:-1};
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000000;
  keepalive_timeout 120s;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  server {
    listen 127.0.0.1:$port reuseport;
    location / { return 200 "ok"; }
  }
}
CONF
    "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" >"$dir/logs/stdout.log" 2>&1 &
    echo $! >"$dir/launcher.pid"
    echo "$port" >"$dir/port"
    # Ready when it answers (bounded: 5 s).
    for _ in $(seq 1 50); do
      if curl -fsS --max-time 1 "http://127.0.0.1:$port/" >/dev/null 2>&1; then
        echo "http://127.0.0.1:$port"
        exit 0
      fi
      sleep 0.1
    done
    echo "nginx did not answer on 127.0.0.1:$port; see $dir/logs" >&2
    cat "$dir/logs/error.log" >&2 || true
    exit 1
    ;;
  stop)
    [ -f "$dir/launcher.pid" ] || exit 0
    pid="$(cat "$dir/launcher.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -QUIT "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/launcher.pid"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
