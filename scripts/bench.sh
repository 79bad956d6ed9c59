#!/usr/bin/env bash
# make bench: measures tickcompact against its performance targets and prints one table, each figure
# beside the limit it is compared with (measured in the same run) and whether it meets its target.
#
# Broker: BENCH_BROKERS when set; else the real broker of scripts/kafka-local.sh when `status` says
# one runs; else an embedded kfake broker inside the bench process. The output says which.
#
# Usage: scripts/bench.sh [--quick] [--rows 2,4] [--section-out FILE]
#   --quick        small sizes and short phases: a smoke test, not comparable with the targets
#   --rows LIST    only these rows (1 engine, 2 backlog, 3 emission delay, 4 sink, 5 memory, 6 hostile records,
#                  7 end to end to a WebSocket client, 8 gateway fan-out)
#   --section-out  also write the run as docs/performance.md's "Latest figures" section to FILE
#   --profile-dir  save the aggregator's Go profiles there: row 2's CPU, row 5's heap at its peak (go tool pprof DIR/aggregator-2-cpu.pb.gz)
#   --perf         with --profile-dir, also record each service with perf (perf report -i DIR/aggregator-PID.perf.data)
#   --aggregator-flag, --sink-flag, --service-env
#                  run with settings other than the defaults; the table is then printed with them
# make bench passes ARGS: make bench ARGS="--rows 2,4".
# Environment: BENCH_BROKERS, GO (default go), BENCH_WORK_DIR (keep service logs there).
# A full run takes about 7 to 8 minutes; the machine should be otherwise idle for comparable figures.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
export CGO_ENABLED=1

scripts/ensure-redis.sh >&2
BIN=$(mktemp -d "${TMPDIR:-/tmp}/tickcompact-bench-bin.XXXXXX")
trap 'rm -rf "$BIN"' EXIT
echo "bench: building the aggregator, the sink, the gateway and the bench driver" >&2
$GO build -o "$BIN/" ./cmd/aggregator ./cmd/sink ./cmd/gateway ./cmd/bench

brokers="" kind=""
if [[ -n ${BENCH_BROKERS:-} ]]; then
  brokers=$BENCH_BROKERS
  kind="Kafka at $BENCH_BROKERS (BENCH_BROKERS)"
elif scripts/kafka-local.sh status >/dev/null 2>&1; then
  env_lines=$(scripts/kafka-local.sh env)
  brokers=$(sed -n 's/^KAFKA_BROKERS=//p' <<<"$env_lines")
  version=$(sed -n 's/^KAFKA_VERSION=//p' <<<"$env_lines")
  kind="Apache Kafka ${version:-?} at $brokers (scripts/kafka-local.sh, single node, KRaft)"
fi
if [[ -n $brokers ]]; then
  echo "bench: broker: $kind" >&2
else
  echo "bench: broker: no real broker running (scripts/kafka-local.sh status) and BENCH_BROKERS unset: embedded kfake" >&2
fi

args=(--brokers "$brokers" --broker-kind "$kind" --aggregator-bin "$BIN/aggregator" --sink-bin "$BIN/sink" --gateway-bin "$BIN/gateway" --module-dir "$PWD")
if [[ -n ${BENCH_WORK_DIR:-} ]]; then
  mkdir -p "$BENCH_WORK_DIR"
  args+=(--work-dir "$BENCH_WORK_DIR")
fi
"$BIN/bench" "${args[@]}" "$@"
