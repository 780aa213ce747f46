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

svc_kafka_start() {  # DIR
  local dir="$1" k="$1/kafka" port cport libs
  port="$(service_port "$dir" kafka)"
  cport="$(service_port "$dir" kafka controller_port)"
  if svc_kafka_running "$dir"; then return 0; fi
  libs="$(_kafka_libs)" || return 1
  mkdir -p "$k/data"
  cat > "$k/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$k/data
num.partitions=6
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
# Small box: few threads, and no periodic fsync beyond Kafka's defaults.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
PROPS
  local java_opts=(-Xms128m -Xmx512m -XX:+UseSerialGC -XX:CICompilerCount=2
    -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$_kafka_here/kafka/log4j.properties")
  if [ ! -f "$k/data/meta.properties" ]; then
    [ -s "$k/cluster_id" ] || _kafka_cluster_id > "$k/cluster_id"
    java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool format \
      -t "$(cat "$k/cluster_id")" -c "$k/server.properties" --ignore-formatted \
      >> "$k/server.log" 2>&1 || { echo "kafka: storage format failed; see $k/server.log" >&2; return 1; }
  fi
  local offset=$(( $(stat -c %s "$k/server.log" 2>/dev/null || echo 0) + 1 ))
  # setsid: the broker outlives the shell that started it and ignores its signals.
  setsid java "${java_opts[@]}" -cp "$libs/*" kafka.Kafka "$k/server.properties" \
    >> "$k/server.log" 2>&1 < /dev/null &
  echo $! > "$k/pid"
  if ! wait_until 90 _kafka_ready "$k/server.log" "$offset" "$port"; then
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
