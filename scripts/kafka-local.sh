#!/usr/bin/env bash
# Runs a real single-node Apache Kafka broker (KRaft, broker+controller in one JVM) on loopback for tests.
# Needs Java 17+ and Maven; the Kafka jars come from Maven Central through scripts/kafka/pom.xml and
# stay in the local Maven repository (~/.m2), so every run after the first one is offline.
#
# Usage: scripts/kafka-local.sh <command>
#   start    fetch jars if needed, format storage once, start the broker (or reuse a running one that
#            answers), wait until it answers on both listeners, print KEY=VALUE lines on stdout:
#              KAFKA_BROKERS=127.0.0.1:19092 KAFKA_SASL_BROKERS=127.0.0.1:19093 KAFKA_VERSION=4.1.2
#              KAFKA_STATE_DIR=...        (use:  eval "$(scripts/kafka-local.sh start)")
#   stop     SIGTERM, wait up to 30 s, then SIGKILL; removes the pid file
#   restart  stop + start (storage kept)
#   kill     SIGKILL the broker (fault tests); a later `start` recovers the same storage
#   status   "running ..." (exit 0) or "not running" (exit 3)
#   env      the KEY=VALUE lines of a running broker (exit 3 if none)
#   fetch    only resolve the jars (warms ~/.m2 for CI); prints the classpath file path
#   smoke    on a running broker: create topic kafka-local-smoke, list topics, commit + abort a
#            transaction and check a read_committed consumer, produce/consume as the SCRAM user
#   tool CLASS [ARGS...]  run a class from the Kafka jars, e.g.
#            tool org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:19092 --list
#   reset    stop and delete the storage, logs and generated files (next start reformats)
#
# Environment (defaults):
#   KAFKA_VERSION=4.1.2            org.apache.kafka:kafka_2.13 version to fetch and run
#   KAFKA_PORT=19092               PLAINTEXT listener (also the inter-broker listener)
#   KAFKA_SASL_PORT=KAFKA_PORT+1   SASL_PLAINTEXT listener, mechanism SCRAM-SHA-512
#   KAFKA_CONTROLLER_PORT=KAFKA_PORT+2  KRaft CONTROLLER listener
#   KAFKA_STATE_DIR=${TMPDIR:-/tmp}/tickcompact-kafka  storage (data/), logs (logs/server.log), pid file
#   KAFKA_SCRAM_USER=tickcompact, KAFKA_SCRAM_PASSWORD=tickcompact-secret  created at format time only
#   KAFKA_HEAP_OPTS="-Xmx512m -Xms256m", KAFKA_OPTS (extra broker JVM options, default empty)
#   KAFKA_EXTRA_PROPS              extra server.properties lines appended verbatim (newline-separated)
#   KAFKA_START_TIMEOUT=120        seconds to wait for the broker to answer
#   MVN=mvn, JAVA_HOME             tools to use
# A port already used by another process is an error naming the port (no automatic port change).
# Only 127.0.0.1 is bound. No authorizer: any client on either listener may do anything.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
KDIR=$SCRIPT_DIR/kafka
POM=$KDIR/pom.xml
PROBE_SRC=$KDIR/KafkaProbe.java
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

KAFKA_VERSION=${KAFKA_VERSION:-4.1.2}
KAFKA_PORT=${KAFKA_PORT:-19092}
KAFKA_SASL_PORT=${KAFKA_SASL_PORT:-$((KAFKA_PORT + 1))}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 2))}
KAFKA_STATE_DIR=${KAFKA_STATE_DIR:-${TMPDIR:-/tmp}/tickcompact-kafka}
KAFKA_SCRAM_USER=${KAFKA_SCRAM_USER:-tickcompact}
KAFKA_SCRAM_PASSWORD=${KAFKA_SCRAM_PASSWORD:-tickcompact-secret}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}
KAFKA_OPTS=${KAFKA_OPTS:-}
KAFKA_EXTRA_PROPS=${KAFKA_EXTRA_PROPS:-}
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-120}
MVN=${MVN:-mvn}
if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
  JAVA=$JAVA_HOME/bin/java
  JAVAC=$JAVA_HOME/bin/javac
else
  JAVA=java
  JAVAC=javac
fi

STATE=$KAFKA_STATE_DIR
DATA=$STATE/data
LOGS=$STATE/logs
PIDFILE=$STATE/kafka.pid
RUNFILE=$STATE/broker.env    # ports/version of the broker the pid file belongs to
PROPS=$STATE/server.properties
SCRAMFILE=$STATE/scram-user  # SCRAM user the storage was formatted with

log() { printf 'kafka-local: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for v in KAFKA_PORT KAFKA_SASL_PORT KAFKA_CONTROLLER_PORT KAFKA_START_TIMEOUT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number, got '${!v}'"
done
[[ $KAFKA_VERSION =~ ^[0-9A-Za-z.+-]+$ ]] || die "bad KAFKA_VERSION '$KAFKA_VERSION'"
# The values end up inside --add-scram 'SCRAM-SHA-512=[name=...,password=...]' and a JAAS string.
[[ $KAFKA_SCRAM_USER =~ ^[A-Za-z0-9._@+-]+$ ]] || die "KAFKA_SCRAM_USER may only contain [A-Za-z0-9._@+-]"
[[ $KAFKA_SCRAM_PASSWORD =~ ^[A-Za-z0-9._@+-]+$ ]] || die "KAFKA_SCRAM_PASSWORD may only contain [A-Za-z0-9._@+-]"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- locking
lock() {
  mkdir -p -- "$STATE"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$STATE/.lock"
    flock -w 300 9 || die "another kafka-local.sh holds $STATE/.lock"
  fi
}

# ---------------------------------------------------------------- classpath (Maven)
pom_key() { cksum <"$POM" | cut -d' ' -f1; }
cp_file() { printf '%s/classpath-%s-%s.txt' "$STATE" "$KAFKA_VERSION" "$(pom_key)"; }

cp_valid() { # every jar listed in the classpath file still exists
  local f=$1 jar
  [[ -s $f ]] || return 1
  local -a jars
  IFS=: read -r -a jars <"$f"
  ((${#jars[@]} > 10)) || return 1
  for jar in "${jars[@]}"; do [[ -f $jar ]] || return 1; done
}

fetch() {
  local f tmp mlog t0
  f=$(cp_file)
  if cp_valid "$f"; then CP=$(<"$f"); return 0; fi
  command -v "$MVN" >/dev/null 2>&1 || die "Maven ('$MVN') not found; install it (Debian: apt-get install -y maven)"
  mkdir -p -- "$STATE"
  tmp=$f.tmp.$$
  mlog=$STATE/maven.log
  local -a args=(-B -q -f "$POM" "-Dkafka.version=$KAFKA_VERSION" "$DEP_PLUGIN:build-classpath"
    "-Dmdep.outputFile=$tmp" -Dmdep.includeScope=runtime -Dmdep.pathSeparator=:)
  t0=$(now)
  # Offline first: succeeds without any network access once ~/.m2 holds everything.
  if ! "$MVN" -o "${args[@]}" >"$mlog" 2>&1; then
    log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION and dependencies from Maven Central ..."
    if ! "$MVN" "${args[@]}" >"$mlog" 2>&1; then
      tail -n 30 "$mlog" >&2 || true
      rm -f -- "$tmp"
      die "Maven could not resolve the Kafka jars (full log: $mlog)"
    fi
  fi
  cp_valid "$tmp" || die "Maven wrote an unusable classpath file $tmp (log: $mlog)"
  mv -f -- "$tmp" "$f"
  CP=$(<"$f")
  log "classpath for Kafka $KAFKA_VERSION ready in $(elapsed "$t0")s: $f"
}

# Compile the readiness/smoke probe once per classpath.
PROBE_DIR=
probe_build() {
  PROBE_DIR=$STATE/probe-$KAFKA_VERSION
  if [[ -f $PROBE_DIR/KafkaProbe.class && $PROBE_DIR/KafkaProbe.class -nt $PROBE_SRC ]]; then return 0; fi
  command -v "$JAVAC" >/dev/null 2>&1 || die "javac not found: a JDK 17+ is needed (Debian: openjdk-17-jdk-headless)"
  rm -rf -- "$PROBE_DIR"
  mkdir -p -- "$PROBE_DIR"
  "$JAVAC" -nowarn -d "$PROBE_DIR" -cp "$CP" "$PROBE_SRC" >&2 || die "could not compile $PROBE_SRC"
}

# Run a class from the Kafka jars with tool logging (warnings to stderr).
run_tool() {
  local cls=$1
  shift
  "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$KDIR/log4j2-tools.properties" -cp "$CP" "$cls" "$@"
}

probe() {
  "$JAVA" -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$KDIR/log4j2-tools.properties" -cp "$PROBE_DIR:$CP" KafkaProbe "$@"
}

# ---------------------------------------------------------------- process helpers
alive() { # running and not a zombie
  local pid=$1 st
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  st=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || true)
  [[ $st != Z ]]
}

is_ours() { # the pid is a kafka.Kafka JVM started with this state dir's server.properties
  local pid=$1 cmd
  alive "$pid" || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  [[ $cmd == *kafka.Kafka* && $cmd == *"$PROPS"* ]]
}

read_pid() {
  if [[ -f $PIDFILE ]]; then tr -dc '0-9' <"$PIDFILE" || true; fi
}

port_in_use() { # something accepts connections on 127.0.0.1:port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

port_owner() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:(\(.*\))$/\1/p' | head -n 1
  fi
}

stop_pid() { # SIGTERM, wait up to 30 s, SIGKILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  log "broker pid $pid still alive 30 s after SIGTERM: sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  die "broker pid $pid did not exit after SIGKILL"
}

print_env() {
  printf 'KAFKA_BROKERS=127.0.0.1:%s\n' "$1"
  printf 'KAFKA_SASL_BROKERS=127.0.0.1:%s\n' "$2"
  printf 'KAFKA_VERSION=%s\n' "$3"
  printf 'KAFKA_STATE_DIR=%s\n' "$STATE"
}

# ---------------------------------------------------------------- broker config + storage
write_props() {
  cat >"$PROPS.tmp" <<EOF
# Generated by scripts/kafka-local.sh on every start; edits are lost (use KAFKA_EXTRA_PROPS).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
log.dirs=$DATA
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Tests kill consumers and want their partitions to move within seconds.
group.min.session.timeout.ms=1000
# Fault tests freeze a producer past its transaction timeout; abort such
# transactions promptly (defaults: 10 s check interval).
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
default.replication.factor=1
min.insync.replicas=1
log.retention.hours=168
# After a SIGKILL the restarted broker cannot register until the old registration's session expires
# (default 9 s); 4 s with 1 s heartbeats makes kill + start faster and still tolerates 3 missed beats.
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
# Later lines override earlier ones.
$KAFKA_EXTRA_PROPS
EOF
  mv -f -- "$PROPS.tmp" "$PROPS"
}

format_storage() {
  if [[ -f $DATA/meta.properties ]]; then
    if [[ -f $SCRAMFILE && $(<"$SCRAMFILE") != "$KAFKA_SCRAM_USER" ]]; then
      log "warning: storage was formatted with SCRAM user '$(<"$SCRAMFILE")', not '$KAFKA_SCRAM_USER' (credentials are set at format time; 'reset' to reformat)"
    fi
    return 0
  fi
  local cluster_id
  # A Kafka cluster id is a base64url-encoded random 128-bit UUID (22 characters).
  # Like Kafka's Uuid.randomUuid, draw again when it starts with "-": the
  # storage tool's argument parser would take it for an option.
  cluster_id=-
  while [[ $cluster_id == -* ]]; do
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  done
  mkdir -p -- "$DATA"
  log "formatting KRaft storage $DATA (cluster id $cluster_id, SCRAM-SHA-512 user '$KAFKA_SCRAM_USER')"
  run_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" \
    --add-scram "SCRAM-SHA-512=[name=$KAFKA_SCRAM_USER,password=$KAFKA_SCRAM_PASSWORD]" >"$LOGS/format.log" 2>&1 ||
    { cat "$LOGS/format.log" >&2; die "kafka-storage format failed"; }
  printf '%s\n' "$KAFKA_SCRAM_USER" >"$SCRAMFILE"
}

# ---------------------------------------------------------------- commands
cmd_start() {
  local t0 pid
  t0=$(now)
  lock
  mkdir -p -- "$LOGS"
  fetch
  probe_build

  pid=$(read_pid)
  if [[ -n $pid ]] && is_ours "$pid"; then
    local want have
    want="$KAFKA_PORT $KAFKA_SASL_PORT $KAFKA_CONTROLLER_PORT $KAFKA_VERSION"
    have=$(cat "$RUNFILE" 2>/dev/null || true)
    if [[ $have == "$want" ]] && probe ready 15 "$pid" "127.0.0.1:$KAFKA_PORT" "127.0.0.1:$KAFKA_SASL_PORT" \
      "$KAFKA_SCRAM_USER" "$KAFKA_SCRAM_PASSWORD" 2>/dev/null; then
      log "reusing the running broker pid $pid (Kafka $KAFKA_VERSION, answers on 127.0.0.1:$KAFKA_PORT)"
      print_env "$KAFKA_PORT" "$KAFKA_SASL_PORT" "$KAFKA_VERSION"
      return 0
    fi
    if [[ $have != "$want" ]]; then
      log "stopping the leftover broker pid $pid (it runs with ports/version '$have', wanted '$want')"
    else
      log "stopping the leftover broker pid $pid (it does not answer)"
    fi
    stop_pid "$pid"
  elif [[ -n $pid ]]; then
    log "removing stale pid file (pid $pid is not running)"
  fi
  rm -f -- "$PIDFILE" "$RUNFILE"

  local p name owner
  for name in KAFKA_PORT KAFKA_SASL_PORT KAFKA_CONTROLLER_PORT; do
    p=${!name}
    if port_in_use "$p"; then
      owner=$(port_owner "$p")
      die "port $p ($name) on 127.0.0.1 is already in use${owner:+ by $owner}; stop that process or choose other ports (KAFKA_PORT, KAFKA_SASL_PORT, KAFKA_CONTROLLER_PORT)"
    fi
  done

  write_props
  format_storage

  local heap opts offset
  read -r -a heap <<<"$KAFKA_HEAP_OPTS"
  read -r -a opts <<<"$KAFKA_OPTS"
  offset=$(stat -c %s "$LOGS/server.log" 2>/dev/null || echo 0)
  rm -f -- "$PIDFILE"
  # 9>&-: the broker must not inherit the lock file descriptor (it would hold the lock forever).
  # setsid: the broker leaves the caller's process group and session, so it outlives the caller's
  # job control; the wrapper writes its own pid and execs the JVM, so the pid is the JVM's.
  {
    printf '=== %s start (Kafka %s)\n' "$(date -u +%FT%TZ)" "$KAFKA_VERSION"
  } >>"$LOGS/kafka.out"
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
  setsid bash -c 'echo $$ >"$1.tmp" && mv -f "$1.tmp" "$1" && shift && exec "$@"' kafka-local "$PIDFILE" \
    "$JAVA" "${heap[@]}" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$KDIR/log4j2-broker.properties" "-Dkafka.logs.dir=$LOGS" \
    ${opts[@]+"${opts[@]}"} -cp "$CP" kafka.Kafka "$PROPS" \
    </dev/null >>"$LOGS/kafka.out" 2>&1 9>&- &
  local i
  for ((i = 0; i < 100; i++)); do
    pid=$(read_pid)
    [[ -n $pid ]] && break
    sleep 0.05
  done
  [[ -n $pid ]] || die "the broker process did not start (see $LOGS/kafka.out)"
  printf '%s %s %s %s\n' "$KAFKA_PORT" "$KAFKA_SASL_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_VERSION" >"$RUNFILE"

  if ! probe ready "$KAFKA_START_TIMEOUT" "$pid" "127.0.0.1:$KAFKA_PORT" "127.0.0.1:$KAFKA_SASL_PORT" \
    "$KAFKA_SCRAM_USER" "$KAFKA_SCRAM_PASSWORD" 2>"$LOGS/probe.log"; then
    cat "$LOGS/probe.log" >&2
    log "last lines of $LOGS/server.log:"
    tail -c +"$((offset + 1))" "$LOGS/server.log" 2>/dev/null | tail -n 25 >&2 || true
    tail -n 10 "$LOGS/kafka.out" >&2 || true
    if alive "$pid"; then stop_pid "$pid"; fi
    rm -f -- "$PIDFILE" "$RUNFILE"
    die "broker did not become ready within ${KAFKA_START_TIMEOUT}s"
  fi
  # The broker answers (and is unfenced) slightly before it logs the end of its startup.
  for ((i = 0; i < 100; i++)); do
    tail -c +"$((offset + 1))" "$LOGS/server.log" 2>/dev/null | grep -q 'Kafka Server started' && break
    sleep 0.1
  done
  ((i < 100)) || log "warning: broker answers but 'Kafka Server started' is not in $LOGS/server.log after 10 s"
  log "started broker pid $pid (Kafka $KAFKA_VERSION) in $(elapsed "$t0")s; logs: $LOGS/server.log"
  print_env "$KAFKA_PORT" "$KAFKA_SASL_PORT" "$KAFKA_VERSION"
}

cmd_stop() {
  local pid
  lock
  pid=$(read_pid)
  if [[ -n $pid ]] && is_ours "$pid"; then
    local t0
    t0=$(now)
    stop_pid "$pid"
    log "stopped broker pid $pid in $(elapsed "$t0")s"
  elif [[ -n $pid ]]; then
    log "broker not running (stale pid file for pid $pid removed)"
  else
    log "broker not running"
  fi
  rm -f -- "$PIDFILE" "$RUNFILE"
}

cmd_kill() {
  local pid i
  lock
  pid=$(read_pid)
  if [[ -n $pid ]] && is_ours "$pid"; then
    kill -KILL "$pid"
    for ((i = 0; i < 100; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    log "killed broker pid $pid with SIGKILL (storage kept; 'start' recovers it)"
  else
    log "broker not running"
  fi
  rm -f -- "$PIDFILE" "$RUNFILE"
}

cmd_status() {
  local pid ports
  pid=$(read_pid)
  if [[ -n $pid ]] && is_ours "$pid"; then
    read -r -a ports <"$RUNFILE" || ports=("$KAFKA_PORT" "$KAFKA_SASL_PORT" "$KAFKA_CONTROLLER_PORT" "?")
    if port_in_use "${ports[0]}"; then
      echo "running: pid $pid, Kafka ${ports[3]}, PLAINTEXT 127.0.0.1:${ports[0]}, SASL_PLAINTEXT 127.0.0.1:${ports[1]}, state $STATE"
    else
      echo "running: pid $pid, Kafka ${ports[3]}, but 127.0.0.1:${ports[0]} does not accept connections (yet), state $STATE"
    fi
    return 0
  fi
  echo "not running (state $STATE)"
  return 3
}

cmd_env() {
  local pid ports
  pid=$(read_pid)
  if [[ -n $pid ]] && is_ours "$pid"; then
    read -r -a ports <"$RUNFILE" || ports=("$KAFKA_PORT" "$KAFKA_SASL_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_VERSION")
    print_env "${ports[0]}" "${ports[1]}" "${ports[3]}"
    return 0
  fi
  log "broker not running"
  return 3
}

cmd_smoke() {
  local pid topic=kafka-local-smoke bs="127.0.0.1:$KAFKA_PORT"
  pid=$(read_pid)
  { [[ -n $pid ]] && is_ours "$pid"; } || die "broker not running; run '$0 start' first"
  fetch
  probe_build
  run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --create --if-not-exists \
    --topic "$topic" --partitions 3 --replication-factor 1 >&2
  log "topics:"
  run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --list >&2
  probe smoke "$bs" "$topic" "127.0.0.1:$KAFKA_SASL_PORT" "$KAFKA_SCRAM_USER" "$KAFKA_SCRAM_PASSWORD"
}

cmd_reset() {
  cmd_stop
  rm -rf -- "$DATA" "$LOGS" "$STATE"/probe-* "$STATE"/classpath-*.txt "$PROPS" "$SCRAMFILE" "$STATE/maven.log"
  log "storage and logs under $STATE removed"
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop && cmd_start ;;
  kill) cmd_kill ;;
  status) cmd_status ;;
  env) cmd_env ;;
  fetch)
    fetch
    printf '%s\n' "$(cp_file)"
    ;;
  smoke) cmd_smoke ;;
  reset) cmd_reset ;;
  tool)
    shift
    [[ $# -ge 1 ]] || die "usage: $0 tool CLASS [ARGS...]"
    fetch
    run_tool "$@"
    ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
