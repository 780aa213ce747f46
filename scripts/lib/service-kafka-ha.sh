# kafka-ha for scripts/services (see services-common.sh for the contract): a
# three-node KRaft cluster, each node broker and controller in one JVM, on
# 127.0.0.1, node N in DIR/kafka-ha/kafka-N (ports, data, server.log, pid).
#
# Topics take replication factor 3 and min.insync.replicas 2 by default (the
# log creates its topic with the broker's default replication factor), so with
# the producer's acks=all an acknowledged record is on at least two brokers and
# one broker may die without losing it or stopping writes. Short session and
# election timeouts (2 s / 1 s) keep the pause after a broker death a few
# seconds. Small heaps (256 MB each): the test machine has two cores and more
# services beside.
#
# Members: kafka-1, kafka-2, kafka-3; each can be stopped and started alone
# (scripts/services stop kafka-2), keeping its data and ports.

_kha_members="kafka-1 kafka-2 kafka-3"

_kha_props() {  # DIR MEMBER
  local dir="$1" n="${2#kafka-}" k="$1/kafka-ha/$2" voters="" m
  for m in $_kha_members; do
    voters="${voters:+$voters,}${m#kafka-}@127.0.0.1:$(service_port "$dir/kafka-ha" "$m" controller_port)"
  done
  _kafka_write_props "$k/server.properties" "$n" "$voters" "$(service_port "$dir/kafka-ha" "$2")" \
    "$(service_port "$dir/kafka-ha" "$2" controller_port)" "$k/data" 3 2 \
    unclean.leader.election.enable=false broker.heartbeat.interval.ms=500 \
    broker.session.timeout.ms=2000 controller.quorum.election.timeout.ms=1000 \
    controller.quorum.fetch.timeout.ms=2000 replica.lag.time.max.ms=5000 \
    num.io.threads=2 num.replica.fetchers=1
}

_kha_member_start() {  # DIR MEMBER LIBS
  local dir="$1" k="$1/kafka-ha/$2" libs="$3"
  if pid_running "$k/pid"; then return 0; fi
  mkdir -p "$k/data"
  _kha_props "$dir" "$2"
  _kafka_launch "$k" "$libs" "$(cat "$dir/kafka-ha/cluster_id")" -Xms64m -Xmx256m \
    -XX:+UseSerialGC -XX:CICompilerCount=2 -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
}

svc_kafka_ha_start() {  # DIR [MEMBER]
  local dir="$1" libs m
  libs="$(_kafka_libs)" || return 1
  mkdir -p "$dir/kafka-ha"
  [ -s "$dir/kafka-ha/cluster_id" ] || _kafka_cluster_id > "$dir/kafka-ha/cluster_id"
  for m in $_kha_members; do service_port "$dir/kafka-ha" "$m" controller_port > /dev/null; done
  # The three format and start in parallel: each JVM start costs seconds.
  local pids=() members="${2:-$_kha_members}"
  for m in $members; do _kha_member_start "$dir" "$m" "$libs" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || return 1; done
  for m in $members; do
    wait_until 90 _kafka_node_ready "$dir/kafka-ha/$m" \
      || { echo "kafka-ha: $m not ready after 90 s; see $dir/kafka-ha/$m/server.log" >&2; return 1; }
  done
}

svc_kafka_ha_stop() {  # DIR [MEMBER]
  local m
  # A clean shutdown moves leadership away first and can take a while; when
  # `down` discards the data anyway, KILL follows after 3 s.
  local wait_s=60
  [ -z "${FIRSTCOME_SERVICES_DISCARD:-}" ] || wait_s=3
  for m in ${2:-$_kha_members}; do stop_pidfile "$1/kafka-ha/$m/pid" "$wait_s" & done
  wait
}

svc_kafka_ha_running() {  # DIR
  local m
  for m in $_kha_members; do pid_running "$1/kafka-ha/$m/pid" || return 1; done
}

svc_kafka_ha_env() {  # DIR
  local m list=""
  for m in $_kha_members; do list="${list:+$list,}127.0.0.1:$(cat "$1/kafka-ha/$m/port")"; done
  echo "export FIRSTCOME_KAFKA_BROKERS=$list"
}

svc_kafka_ha_pids() {  # DIR
  local m out=""
  for m in $_kha_members; do out="$out $m=$(cat "$1/kafka-ha/$m/pid")"; done
  echo "${out# }"
}

svc_kafka_ha_members() { echo "$_kha_members"; }

svc_kafka_ha_status() {  # DIR: one line per member
  local m
  for m in $_kha_members; do
    if pid_running "$1/kafka-ha/$m/pid"; then echo "$m: running (port $(cat "$1/kafka-ha/$m/port"))"; else echo "$m: stopped"; fi
  done
}
