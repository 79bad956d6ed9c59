package aggregator

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
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
