#!/usr/bin/env bash
# kafka-console-producer.sh: Kafka's org.apache.kafka.tools.ConsoleProducer.
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.ConsoleProducer "$@"
