#!/usr/bin/env bash
# kafka-run-class.sh CLASS [ARGS...]: runs a class from /opt/kafka/libs with the
# environment variables Kafka's own script honours (KAFKA_HEAP_OPTS,
# KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_LOG4J_OPTS, KAFKA_OPTS). Tools get a small
# heap and log warnings to stderr; the broker (kafka.Kafka) logs to stdout.
set -euo pipefail
class=$1
shift
if [[ $class == kafka.Kafka ]]; then
  heap=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}
  perf=${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}
  log4j=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/etc/kafka/docker/log4j2-broker.properties}
else
  heap=${KAFKA_HEAP_OPTS:--Xmx256M}
  perf=${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true}
  log4j=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/etc/kafka/docker/log4j2-tools.properties}
fi
# shellcheck disable=SC2086 # the option variables hold several words
exec java $heap $perf $log4j ${KAFKA_OPTS:-} -cp '/opt/kafka/libs/*' "$class" "$@"
