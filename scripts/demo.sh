#!/usr/bin/env bash
# make demo: builds bin/demo, saying what it is doing (a first build spends
# minutes compiling, much of it in one cgo package, and would otherwise look
# stuck), then runs it with the arguments given: make demo ARGS="--rate 2000".
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
BIN=${DEMO_BIN:-bin/demo}
say() { printf 'make demo: %s\n' "$*" >&2; }

say "building $BIN (go build ./cmd/demo)"
say "a first build downloads the Go modules and compiles librdkafka's Go bindings (cgo): some minutes; later builds take seconds"
start=$SECONDS
packages=0
# A first build has stretches of minutes with no package starting (cgo
# compiling librdkafka's bindings, the link): a line every 30 s meanwhile.
(while sleep 30; do say "still building ($((SECONDS - start)) s so far)"; done) &
heartbeat=$!
trap 'kill "$heartbeat" 2>/dev/null' EXIT
# -v names each package as it is compiled: a progress line every 25, and a
# word on the slow ones. Lines with a space are go's own messages (downloads,
# errors) and pass through.
"$GO" build -v -o "$BIN" ./cmd/demo 2>&1 | while IFS= read -r line; do
	case $line in
	github.com/confluentinc/confluent-kafka-go/v2/kafka)
		say "compiling librdkafka's Go bindings (cgo), the slowest step of a first build ($((SECONDS - start)) s so far)" ;;
	tickcompact/cmd/demo)
		say "compiling and linking the demo ($((SECONDS - start)) s so far)" ;;
	*" "* | "")
		printf '%s\n' "$line" >&2 ;;
	*)
		packages=$((packages + 1))
		if ((packages % 25 == 0)); then
			say "compiled $packages packages ($((SECONDS - start)) s so far)"
		fi ;;
	esac
done
kill "$heartbeat" 2>/dev/null
trap - EXIT
say "built in $((SECONDS - start)) s; starting the demo"
exec "$BIN" "$@"
