# kafka for scripts/services (see services-common.sh for the contract).
#
# One single-node KRaft Kafka (broker and controller in one JVM) listening on
# 127.0.0.1 only, data in DIR/kafka/data, log in DIR/kafka/server.log. Jars come
# from scripts/lib/kafka-jars.sh (Maven Central, cached).
#
# Invariants: the storage is formatted once, with a cluster id remembered in
# DIR/kafka/cluster_id, so a stop + start keeps every acked record; the broker
# and controller ports are remembered in DIR/kafka/{port,controller_port}.

_kafka_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

_kafka_libs() {
  "$_kafka_here/kafka-jars.sh" --print-dir
}

# Kafka's own Uuid text form: 16 random bytes, base64url without padding. Why
# not StorageTool random-uuid: a second JVM start costs seconds on a busy box.
_kafka_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    # A leading '-' would read as an option on a command line; Kafka avoids it too.
    [ "${id:0:1}" != "-" ] && { echo "$id"; return; }
  done
}

_kafka_tcp_open() {  # PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

_kafka_ready() {  # LOG OFFSET PORT
  tail -c +"$2" "$1" 2>/dev/null | grep -q "Kafka Server started" && _kafka_tcp_open "$3"
}

# _kafka_write_props FILE NODE_ID VOTERS PORT CONTROLLER_PORT DATA REPLICAS MIN_ISR [LINE...]:
# the server.properties of one KRaft node (broker and controller in one JVM)
# on 127.0.0.1, topics replicated REPLICAS times with MIN_ISR in sync; each
# LINE is appended as it is (settings of one kind of cluster). The single node
# and the HA cluster (service-kafka-ha.sh) share it.
_kafka_write_props() {
  local file="$1" id="$2" voters="$3" port="$4" cport="$5" data="$6" rf="$7" isr="$8"
  shift 8
  {
    cat <<PROPS
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data
num.partitions=6
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
# Small box: few threads, and no periodic fsync beyond Kafka's defaults.
num.network.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
PROPS
    printf '%s\n' "$@"
  } > "$file"
}

# _kafka_launch NODE_DIR LIBS CLUSTER_ID JAVA_OPT...: formats NODE_DIR/data
# once (with CLUSTER_ID) and starts the node of NODE_DIR/server.properties
# in the background (pid in NODE_DIR/pid, output in NODE_DIR/server.log; the
# log's size before the start in NODE_DIR/log_offset, for _kafka_node_ready).
_kafka_launch() {
  local k="$1" libs="$2" cluster="$3"
  shift 3
  local opts=("$@" "-Dlog4j.configuration=file:$_kafka_here/kafka/log4j.properties")
  if [ ! -f "$k/data/meta.properties" ]; then
    java "${opts[@]}" -cp "$libs/*" kafka.tools.StorageTool format -t "$cluster" \
      -c "$k/server.properties" --ignore-formatted >> "$k/server.log" 2>&1 \
      || { echo "kafka: storage format of $k failed; see $k/server.log" >&2; return 1; }
  fi
  stat -c %s "$k/server.log" 2>/dev/null > "$k/log_offset" || echo 0 > "$k/log_offset"
  # setsid: the broker outlives the shell that started it and ignores its signals.
  setsid java "${opts[@]}" -cp "$libs/*" kafka.Kafka "$k/server.properties" \
    >> "$k/server.log" 2>&1 < /dev/null &
  echo $! > "$k/pid"
}

_kafka_node_ready() {  # NODE_DIR: started (since its last launch) and accepting
  _kafka_ready "$1/server.log" "$(( $(cat "$1/log_offset") + 1 ))" "$(cat "$1/port")"
}

svc_kafka_start() {  # DIR
  local dir="$1" k="$1/kafka" port cport libs
  port="$(service_port "$dir" kafka)"
  cport="$(service_port "$dir" kafka controller_port)"
  if svc_kafka_running "$dir"; then return 0; fi
  libs="$(_kafka_libs)" || return 1
  mkdir -p "$k/data"
  _kafka_write_props "$k/server.properties" 1 "1@127.0.0.1:$cport" "$port" "$cport" "$k/data" 1 1 \
    num.io.threads=4
  [ -s "$k/cluster_id" ] || _kafka_cluster_id > "$k/cluster_id"
  _kafka_launch "$k" "$libs" "$(cat "$k/cluster_id")" -Xms128m -Xmx512m -XX:+UseSerialGC \
    -XX:CICompilerCount=2 -Djava.awt.headless=true || return 1
  if ! wait_until 90 _kafka_node_ready "$k"; then
    echo "kafka: not ready after 90 s; see $k/server.log" >&2
    return 1
  fi
}

svc_kafka_stop() {  # DIR
  # A clean shutdown (SIGTERM) can take a while: it closes logs and the raft
  # quorum; KILL only as a last resort after 60 s.
  stop_pidfile "$1/kafka/pid" 60
}

svc_kafka_running() {  # DIR
  pid_running "$1/kafka/pid"
}

svc_kafka_env() {  # DIR
  echo "export FIRSTCOME_KAFKA_BROKERS=127.0.0.1:$(cat "$1/kafka/port")"
}
