package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator"
	"tickcompact/internal/tools/testkit"
)

// exampleRecord is one trades-2s record as the aggregator writes it.
type exampleRecord struct {
	isin, value       string
	start, end, count int64
	closedBy          string
	eventTime         int64
}

func (r exampleRecord) line() string {
	return fmt.Sprintf("isin=%s window-start=%d window-end=%d trade-count=%d closed-by=%s timestamp=%d value=%s",
		r.isin, r.start, r.end, r.count, r.closedBy, r.eventTime, r.value)
}

// TestE2EExampleConsumers runs the example consumers of docs/consumers.md on
// a topic holding two committed transactions with an aborted one between
// them, all on one partition: each must print the committed records in
// order, and never the aborted one (a read_uncommitted reader would print it
// third). The Go example runs on every broker; the Java example is compiled
// and run against the real broker (make test-integration) and must print the
// same lines.
func TestE2EExampleConsumers(t *testing.T) {
	k := testkit.StartKafka(t)
	topic := testkit.UniqueName(t, "trades-2s-example")
	k.CreateTopic(t, topic, 1)

	committed1 := []exampleRecord{
		{isin: "KR7005930003", value: `{"isin":"KR7005930003","price":71500,"volume":12}`, start: 1764053360000, end: 1764053362000, count: 4, closedBy: aggregator.ClosedByWatermark, eventTime: 1764053361123},
		{isin: "KR7000660001", value: `{"isin":"KR7000660001","price":182000,"volume":3}`, start: 1764053360000, end: 1764053362000, count: 1, closedBy: aggregator.ClosedByWallClock, eventTime: 1764053360456},
	}
	aborted := []exampleRecord{
		{isin: "KR7035420009", value: `{"isin":"KR7035420009","price":1,"volume":1}`, start: 1764053362000, end: 1764053364000, count: 1, closedBy: aggregator.ClosedByWatermark, eventTime: 1764053362001},
	}
	committed2 := []exampleRecord{
		{isin: "KR7005930003", value: `{"isin":"KR7005930003","price":71600,"volume":5}`, start: 1764053362000, end: 1764053364000, count: 2, closedBy: aggregator.ClosedByWatermark, eventTime: 1764053363999},
	}
	produceTransactions(t, k, topic, [][]exampleRecord{committed1, aborted, committed2}, []bool{true, false, true})
	var want []string
	for _, r := range append(append([]exampleRecord(nil), committed1...), committed2...) {
		want = append(want, r.line())
	}

	c, err := newConsumer(k.Brokers, testkit.UniqueName(t, "example-go"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := consume(ctx, c, topic, len(want), &out); err != nil {
		t.Fatalf("Go example: %v", err)
	}
	checkLines(t, "Go example", out.String(), want)

	if !testkit.External() {
		t.Log("the Java example runs against the real broker (make test-integration)")
		return
	}
	runJavaExample(t, k.Brokers, topic, want)
}

// produceTransactions writes each batch to partition 0 of topic in a
// transaction of its own, committed or aborted as commit says.
func produceTransactions(t *testing.T, k *testkit.Kafka, topic string, batches [][]exampleRecord, commit []bool) {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":   k.Brokers,
		"transactional.id":    testkit.UniqueName(t, "example-producer"),
		"go.delivery.reports": false,
		"log_level":           4,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	for i, batch := range batches {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, r := range batch {
			err := p.Produce(&kafka.Message{
				TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0},
				Key:            []byte(r.isin),
				Value:          []byte(r.value),
				Timestamp:      time.UnixMilli(r.eventTime),
				Headers: []kafka.Header{
					{Key: aggregator.HeaderWindowStart, Value: []byte(strconv.FormatInt(r.start, 10))},
					{Key: aggregator.HeaderWindowEnd, Value: []byte(strconv.FormatInt(r.end, 10))},
					{Key: aggregator.HeaderTradeCount, Value: []byte(strconv.FormatInt(r.count, 10))},
					{Key: aggregator.HeaderClosedBy, Value: []byte(r.closedBy)},
					{Key: aggregator.HeaderClosedAtOffset, Value: []byte("0")},
					{Key: aggregator.HeaderSourcePartition, Value: []byte("0")},
				},
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
		}
		// Written to the log before the transaction ends: an abort would
		// otherwise purge the records still queued in the producer.
		if left := p.Flush(30_000); left != 0 {
			t.Fatalf("transaction %d: %d records not delivered within 30 s", i, left)
		}
		if commit[i] {
			err = p.CommitTransaction(ctx)
		} else {
			err = p.AbortTransaction(ctx)
		}
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
}

// runJavaExample compiles ../consumer-java against the Kafka client jars that
// scripts/kafka-local.sh resolved for the broker, runs it on topic and
// compares what it prints with want.
func runJavaExample(t *testing.T, brokers, topic string, want []string) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	fetch := exec.Command(filepath.Join(root, "scripts", "kafka-local.sh"), "fetch")
	fetch.Stderr = os.Stderr
	cpFile, err := fetch.Output()
	if err != nil {
		t.Fatalf("scripts/kafka-local.sh fetch: %v", err)
	}
	cp, err := os.ReadFile(strings.TrimSpace(string(cpFile)))
	if err != nil {
		t.Fatal(err)
	}
	classpath := strings.TrimSpace(string(cp))
	classes := t.TempDir()

	start := time.Now()
	javac := exec.Command("javac", "-Xlint:all", "-Werror", "-d", classes, "-cp", classpath,
		filepath.Join(root, "docs", "examples", "consumer-java", "Trades2sConsumer.java"))
	if out, err := javac.CombinedOutput(); err != nil {
		t.Fatalf("javac Trades2sConsumer.java: %v\n%s", err, out)
	}
	compiled := time.Since(start)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start = time.Now()
	java := exec.CommandContext(ctx, "java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dlog4j2.configurationFile="+filepath.Join(root, "scripts", "kafka", "log4j2-tools.properties"),
		"-cp", classes+string(os.PathListSeparator)+classpath,
		"Trades2sConsumer", brokers, topic, testkit.UniqueName(t, "example-java"), strconv.Itoa(len(want)))
	var stdout, stderr bytes.Buffer
	java.Stdout, java.Stderr = &stdout, &stderr
	if err := java.Run(); err != nil {
		t.Fatalf("java Trades2sConsumer: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("Java example: compiled in %v, read %d records in %v", compiled.Round(10*time.Millisecond), len(want), time.Since(start).Round(10*time.Millisecond))
	checkLines(t, "Java example", stdout.String(), want)
}

func checkLines(t *testing.T, who, got string, want []string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s printed:\n%s\nwant:\n%s", who, strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
