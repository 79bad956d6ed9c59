#!/usr/bin/env bash
# kafka-server-start.sh: Kafka's kafka.Kafka.
exec "$(dirname "$0")/kafka-run-class.sh" kafka.Kafka "$@"
