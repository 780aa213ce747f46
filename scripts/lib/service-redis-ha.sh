# redis-ha for scripts/services (see services-common.sh for the contract):
# one Redis primary, two replicas and three Sentinels (Debian's redis-server;
# a Sentinel is `redis-server CONF --sentinel`), all on 127.0.0.1, each member
# in DIR/redis-ha/MEMBER with its port, pidfile, log and data.
#
# Members: redis-primary, redis-replica-1, redis-replica-2, sentinel-1..3.
# "redis-primary" is the member that starts as the primary; after a failover
# Sentinel makes it a replica of the promoted one when it comes back (its
# config is rewritten by Sentinel, so a restart keeps the new role).
#
# Durability as service-redis.sh (AOF, appendfsync always) on every member.
# min-replicas-to-write 1 / min-replicas-max-lag 3: a primary that has heard
# from no replica for 3 s refuses writes (NOREPLICAS), so an old primary that
# was hung (SIGSTOP) and resumes cannot take admissions that its demotion would
# throw away. Sentinel: quorum 2 of 3, down after 1 s, so a failover takes
# about 2-3 s.

_rha_members="redis-primary redis-replica-1 redis-replica-2"
_rha_sentinels="sentinel-1 sentinel-2 sentinel-3"

_rha_conf_redis() {  # DIR MEMBER
  local r="$1/redis-ha/$2" port pport
  port="$(service_port "$1/redis-ha" "$2")"
  pport="$(service_port "$1/redis-ha" redis-primary)"
  # Written once: Sentinel rewrites replicaof lines in it after a failover.
  [ -f "$r/redis.conf" ] && return 0
  cat > "$r/redis.conf" <<CONF
port $port
bind 127.0.0.1
protected-mode yes
dir $r
appendonly yes
appendfsync always
save ""
daemonize yes
pidfile $r/redis.pid
logfile $r/redis.log
maxclients 1000
min-replicas-to-write 1
min-replicas-max-lag 3
repl-diskless-sync yes
repl-diskless-sync-delay 0
CONF
  if [ "$2" != redis-primary ]; then echo "replicaof 127.0.0.1 $pport" >> "$r/redis.conf"; fi
}

_rha_conf_sentinel() {  # DIR MEMBER
  local r="$1/redis-ha/$2" port pport
  port="$(service_port "$1/redis-ha" "$2")"
  pport="$(service_port "$1/redis-ha" redis-primary)"
  [ -f "$r/sentinel.conf" ] && return 0
  cat > "$r/sentinel.conf" <<CONF
port $port
bind 127.0.0.1
dir $r
daemonize yes
pidfile $r/redis.pid
logfile $r/redis.log
sentinel monitor firstcome 127.0.0.1 $pport 2
sentinel down-after-milliseconds firstcome 1000
sentinel failover-timeout firstcome 10000
sentinel parallel-syncs firstcome 2
CONF
}

_rha_is_sentinel() { case "$1" in sentinel-*) return 0 ;; *) return 1 ;; esac; }

_rha_member_start() {  # DIR MEMBER
  local r="$1/redis-ha/$2"
  mkdir -p "$r"
  if pid_running "$r/redis.pid"; then return 0; fi
  if _rha_is_sentinel "$2"; then
    _rha_conf_sentinel "$1" "$2"
    redis-server "$r/sentinel.conf" --sentinel || return 1
  else
    _rha_conf_redis "$1" "$2"
    redis-server "$r/redis.conf" || return 1
  fi
  wait_until 30 _redis_ping "$(cat "$1/redis-ha/$2/port")" || { echo "redis-ha: $2 does not answer; see $r/redis.log" >&2; return 1; }
  wait_until 5 test -s "$r/redis.pid"
}

_rha_in_sync() {  # PRIMARY_PORT: both replicas online
  [ "$(redis-cli -p "$1" info replication | grep -c 'state=online')" -ge 2 ]
}

_rha_sentinel_ready() {  # PORT: knows the primary, both replicas and the 2 other sentinels
  local out
  out="$(redis-cli -p "$1" sentinel master firstcome)" || return 1
  [ "$(echo "$out" | sed -n '/^num-other-sentinels$/{n;p}')" = 2 ] &&
    [ "$(echo "$out" | sed -n '/^num-slaves$/{n;p}')" = 2 ]
}

svc_redis_ha_start() {  # DIR [MEMBER]
  local dir="$1" m
  if [ -n "${2:-}" ]; then _rha_member_start "$dir" "$2"; return; fi
  for m in $_rha_members; do _rha_member_start "$dir" "$m" || return 1; done
  wait_until 30 _rha_in_sync "$(cat "$dir/redis-ha/redis-primary/port")" \
    || { echo "redis-ha: replicas not in sync after 30 s" >&2; return 1; }
  for m in $_rha_sentinels; do _rha_member_start "$dir" "$m" || return 1; done
  # Sentinels find each other through the primary's hello channel (every 2 s):
  # a failover before that could not reach its quorum.
  for m in $_rha_sentinels; do
    wait_until 30 _rha_sentinel_ready "$(cat "$dir/redis-ha/$m/port")" \
      || { echo "redis-ha: $m does not see the others after 30 s" >&2; return 1; }
  done
}

svc_redis_ha_stop() {  # DIR [MEMBER]
  local m
  for m in ${2:-$_rha_sentinels $_rha_members}; do stop_pidfile "$1/redis-ha/$m/redis.pid" 20; done
}

svc_redis_ha_running() {  # DIR
  local m
  for m in $_rha_members $_rha_sentinels; do pid_running "$1/redis-ha/$m/redis.pid" || return 1; done
}

svc_redis_ha_env() {  # DIR
  local m list=""
  for m in $_rha_sentinels; do list="${list:+$list,}127.0.0.1:$(cat "$1/redis-ha/$m/port")"; done
  echo "export FIRSTCOME_REDIS_SENTINELS=$list"
  echo "export FIRSTCOME_REDIS_MASTER_NAME=firstcome"
}

svc_redis_ha_pids() {  # DIR: member=PID pairs, plus redis-replica for the first replica
  local m out=""
  for m in $_rha_members $_rha_sentinels; do
    out="$out $m=$(cat "$1/redis-ha/$m/redis.pid")"
    [ "$m" = redis-replica-1 ] && out="$out redis-replica=$(cat "$1/redis-ha/$m/redis.pid")"
  done
  echo "${out# }"
}

svc_redis_ha_members() { echo "$_rha_members $_rha_sentinels"; }

svc_redis_ha_status() {  # DIR: one line per member, with its role as Redis says
  local m role
  for m in $_rha_members $_rha_sentinels; do
    if pid_running "$1/redis-ha/$m/redis.pid"; then
      role="$(redis-cli -p "$(cat "$1/redis-ha/$m/port")" role 2>/dev/null | head -1)"
      echo "$m: running (${role:-no answer}, port $(cat "$1/redis-ha/$m/port"))"
    else
      echo "$m: stopped"
    fi
  done
}
