// Package faults is the fault-injection suite of `make test-integration`: the
// aggregator and sink binaries run against the real Apache Kafka broker
// (TICKCOMPACT_TEST_BROKERS) and real redis-server processes while the trade
// generator (internal/tools/tradegen) feeds them live, and processes, the broker and
// Redis are killed, frozen or scaled under them. Every scenario ends with the
// verify binary (cmd/verify --json) auditing the topics, and the sink's Redis
// snapshot where a sink ran, and requires zero violations.
//
// The scenarios are the TestFault* tests, behind the build tag `faults` so
// that `make test` (the embedded tier) does not compile them:
//
//	go test -tags faults -run TestFault ./internal/tools/faults/
//
// They never skip: without TICKCOMPACT_TEST_BROKERS they fail.
// TestFaultBrokerKilled SIGKILLs and restarts the broker through
// scripts/kafka-local.sh with the environment it was started with
// (KAFKA_PORT, KAFKA_STATE_DIR ...), so no other test may use that broker
// meanwhile: scripts/integration.sh runs the test packages one at a time.
//
// The package itself holds no code; everything is in its tests.
package faults
