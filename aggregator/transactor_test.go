package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kfake"

	"tickcompact/aggregator/trade"
	"tickcompact/internal/tools/testkit"
)

// With nothing leaving librdkafka's queue (no broker answers), produce must
// give up after queueFullLimit with an error the stage aborts on, not wait
// forever and not report the producer unusable.
func TestProduceGivesUpWhenTheQueueStaysFull(t *testing.T) {
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":            "127.0.0.1:1", // nothing listens
		"queue.buffering.max.messages": 1,
		"go.delivery.reports":          false,
		"log_level":                    0,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	txn := &transactor{producer: p, queueFullLimit: 50 * time.Millisecond, open: true}
	topic := "trades-2s"
	msg := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte("{}")}
	if err := txn.produce(msg); err != nil {
		t.Fatalf("first record, the queue has room: %v", err)
	}
	err = txn.produce(msg)
	switch {
	case err == nil:
		t.Fatal("second record produced although the queue holds one and nothing drains it")
	case errors.Is(err, errFatal):
		t.Fatalf("a full queue was reported fatal (the service would exit instead of aborting): %v", err)
	case !strings.Contains(err.Error(), "stayed full"):
		t.Fatalf("unexpected error: %v", err)
	}
	if txn.pending != 1 {
		t.Fatalf("pending = %d, want 1", txn.pending)
	}
}

// Rejected records reach dlq_records_total when their transaction commits,
// not before, and not at all when it aborts (the stage rewinds and rejects
// them again); the counts of a committed transaction are not taken again by
// the next commit, which may carry offsets alone.
func TestRejectedRecordsCountOnCommit(t *testing.T) {
	k := testkit.StartKafka(t)
	dlqTopic := testkit.UniqueName(t, "dlq")
	k.CreateTopic(t, dlqTopic, 1)
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": k.Brokers, "transactional.id": testkit.UniqueName(t, "txn"), "log_level": 0})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := t.Context()
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	m := newMetrics(2 * time.Second)
	txn := &transactor{producer: p, logger: slog.New(slog.DiscardHandler), metrics: m, queueFullLimit: time.Second}
	counted := func() (invalidJSON, missingISIN float64) {
		value := func(r trade.Reason) float64 {
			var out dto.Metric
			if err := m.dlq.WithLabelValues(string(r)).Write(&out); err != nil {
				t.Fatal(err)
			}
			return out.GetCounter().GetValue()
		}
		return value(trade.InvalidJSON), value(trade.MissingISIN)
	}
	dlq := func() *kafka.Message {
		return &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &dlqTopic, Partition: 0}, Value: []byte("{")}
	}

	for range 2 {
		if err := txn.reject(trade.InvalidJSON, dlq()); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.reject(trade.MissingISIN, nil); err != nil { // no DLQ topic: counted all the same
		t.Fatal(err)
	}
	if a, b := counted(); a != 0 || b != 0 {
		t.Fatalf("counted before the commit: %v, %v", a, b)
	}
	if txn.pending != 2 || txn.dlq != 2 {
		t.Fatalf("open transaction: pending %d, dlq %d; want 2, 2", txn.pending, txn.dlq)
	}
	if committed, err := txn.commit(ctx, nil); err != nil || committed != 0 {
		t.Fatalf("commit: %d records besides DLQ records, %v; want 0, nil", committed, err)
	}
	if a, b := counted(); a != 2 || b != 1 {
		t.Fatalf("after the commit: invalid-json %v, missing-isin %v; want 2, 1", a, b)
	}
	if txn.pending != 0 || txn.dlq != 0 {
		t.Fatalf("after the commit: pending %d, dlq %d; want 0, 0", txn.pending, txn.dlq)
	}

	if err := txn.reject(trade.InvalidJSON, dlq()); err != nil {
		t.Fatal(err)
	}
	if err := txn.abort(ctx); err != nil {
		t.Fatal(err)
	}
	if err := txn.reject(trade.MissingISIN, nil); err != nil { // rejected with no transaction open...
		t.Fatal(err)
	}
	if err := txn.abort(ctx); err != nil { // ...and forgotten on an abort all the same
		t.Fatal(err)
	}
	if err := txn.begin(); err != nil { // the next transaction, with nothing rejected
		t.Fatal(err)
	}
	if _, err := txn.commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if a, b := counted(); a != 2 || b != 1 {
		t.Fatalf("after an abort and an empty commit: invalid-json %v, missing-isin %v; want still 2, 1", a, b)
	}
}

// An abort that cannot complete (the broker went away) is fatal: the stage
// must not rewind and go on, nor commit on top of the transaction at
// shutdown.
func TestAbortThatCannotCompleteIsFatal(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": strings.Join(cluster.ListenAddrs(), ","),
		"transactional.id": "abort-test", "go.delivery.reports": false, "log_level": 0})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.InitTransactions(t.Context()); err != nil {
		t.Fatal(err)
	}
	txn := &transactor{producer: p, logger: slog.New(slog.DiscardHandler), metrics: newMetrics(2 * time.Second), queueFullLimit: time.Second}
	topic := "out"
	if err := txn.produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if remaining := p.Flush(5000); remaining != 0 {
		t.Fatalf("%d records not delivered", remaining)
	}
	cluster.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	err = txn.abort(ctx)
	if !errors.Is(err, errFatal) {
		t.Fatalf("abort with the broker gone: %v, want a fatal error", err)
	}
	t.Logf("abort with the broker gone: %v", err)
}

// The errors the stages return keep the client's kafka.Error in their
// chain, whatever they wrap it in: a caller can tell fenced from fatal by
// its code.
func TestErrorsKeepTheKafkaError(t *testing.T) {
	fenced := kafka.NewError(kafka.ErrFenced, "producer fenced", true)
	for _, err := range []error{
		classify("committing transaction", fenced),
		fmt.Errorf("%w: aborting transaction: %w", errFatal, fenced),
	} {
		var kerr kafka.Error
		if !errors.Is(err, errFatal) || !errors.As(err, &kerr) || kerr.Code() != kafka.ErrFenced {
			t.Errorf("%v: errFatal %v, kafka.Error %v", err, errors.Is(err, errFatal), kerr.Code())
		}
	}
}
