#!/usr/bin/env bash
# make test-integration: the end-to-end scenarios (every TestE2E* test) and the
# fault suite (every TestFault* test, internal/tools/faults, build tag `faults`)
# against a real Apache Kafka broker started by scripts/kafka-local.sh and real
# redis-server instances started by the tests. Both are stopped whatever the
# outcome. A scenario that is skipped fails the run, and so does a run in which
# no scenario, or no fault scenario, ran.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
LOG=${INTEGRATION_LOG:-${TMPDIR:-/tmp}/tickcompact-integration.log}

scripts/ensure-redis.sh
env_lines=$(scripts/kafka-local.sh start)
trap 'scripts/kafka-local.sh stop >/dev/null 2>&1 || true' EXIT
eval "$env_lines"
# TestFaultBrokerKilled kills and restarts this broker with kafka-local.sh: it
# needs the same port, state directory and version.
export KAFKA_PORT=${KAFKA_BROKERS##*:} KAFKA_STATE_DIR KAFKA_VERSION
export TICKCOMPACT_TEST_BROKERS=$KAFKA_BROKERS
export TICKCOMPACT_TEST_SASL_BROKERS=$KAFKA_SASL_BROKERS
echo "integration: Apache Kafka $KAFKA_VERSION at $KAFKA_BROKERS (SASL/SCRAM at $KAFKA_SASL_BROKERS), $(redis-server --version | cut -d' ' -f1-3)"

set +e
# -p 1: one test package at a time, since the fault suite kills the shared
# broker and measures restart times and throughput.
$GO test -count=1 -p 1 -timeout 45m -v -tags faults -run 'TestE2E|TestFault' ./... >"$LOG" 2>&1
status=$?
set -e
# One line per scenario: name, result, duration.
grep -E '^\s*--- (PASS|FAIL|SKIP)|^(ok|FAIL|panic)' "$LOG" || true
passed=$(grep -cE '^\s*--- PASS: Test(E2E|Fault)' "$LOG" || true)
failed=$(grep -cE '^\s*--- FAIL: Test(E2E|Fault)' "$LOG" || true)
skipped=$(grep -cE '^\s*--- SKIP: Test(E2E|Fault)' "$LOG" || true)
faults=$(grep -cE '^--- (PASS|FAIL): TestFault' "$LOG" || true)
echo "integration: $passed passed, $failed failed, $skipped skipped (full log: $LOG)"
if [[ $status -ne 0 || $failed -ne 0 ]]; then
  grep -E '^\s+\S+_test\.go:[0-9]+:' "$LOG" | tail -40 || true
  exit 1
fi
if [[ $skipped -ne 0 ]]; then
  echo "integration: a scenario was skipped; every scenario must run against the real broker" >&2
  exit 1
fi
if [[ $passed -eq 0 ]]; then
  echo "integration: no scenario ran" >&2
  exit 1
fi
if [[ $faults -eq 0 ]]; then
  echo "integration: no fault scenario (TestFault*) ran" >&2
  exit 1
fi
echo "$passed passed, 0 failed"
