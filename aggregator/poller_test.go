package aggregator

import (
	"bytes"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/testkit"
)

// The poller hands over every record once, in order per partition, with the
// assignment handled on the caller's goroutine before the first record;
// halt returns what it polled ahead, in order; after a seek, the first
// record polled after start is the one sought; Close runs the revocation
// inline.
func TestPollerHandsOverRecordsAndRebalancesInOrder(t *testing.T) {
	k := testkit.StartKafka(t)
	topic := testkit.UniqueName(t, "poller")
	const partitions, n = 3, 3000 // more than pollBatch*pollBatches: the goroutine waits for room
	k.CreateTopic(t, topic, partitions)
	records := make([]testkit.Record, n)
	for i := range records {
		records[i] = testkit.Record{Key: []byte("k"), Value: []byte(strconv.Itoa(i)), Partition: int32(i % partitions)}
	}
	k.Produce(t, topic, records)

	cm := kafka.ConfigMap{
		"bootstrap.servers":             k.Brokers,
		"group.id":                      testkit.UniqueName(t, "poller"),
		"auto.offset.reset":             "earliest",
		"enable.auto.commit":            false,
		"partition.assignment.strategy": "cooperative-sticky",
	}
	for key, v := range k.Properties {
		cm[key] = v
	}
	consumer, err := kafka.NewConsumer(&cm)
	if err != nil {
		t.Fatal(err)
	}
	var p *poller
	var log []string
	var assigned []kafka.TopicPartition
	stage := goroutineID()
	handle := func(c *kafka.Consumer, ev kafka.Event) error {
		if p.active.Load() && goroutineID() != stage {
			t.Errorf("%v handled on goroutine %d, not on the stage's (%d)", ev, goroutineID(), stage)
		}
		switch e := ev.(type) {
		case kafka.AssignedPartitions:
			log = append(log, "assigned")
			assigned = append(assigned, e.Partitions...)
			return c.IncrementalAssign(e.Partitions)
		case kafka.RevokedPartitions:
			log = append(log, "revoked")
			return c.IncrementalUnassign(e.Partitions)
		}
		return nil
	}
	p = newPoller(consumer, handle, nil)
	if err := consumer.SubscribeTopics([]string{topic}, p.onRebalance); err != nil {
		t.Fatal(err)
	}
	p.start()

	next := map[int32]kafka.Offset{} // partition -> offset expected next
	read := func(want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for got := 0; got < want; {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d records within 30s", got, want)
			}
			msg, ok := p.next(100 * time.Millisecond).(*kafka.Message)
			if !ok {
				continue
			}
			if len(log) == 0 || log[0] != "assigned" {
				t.Fatalf("a record came before the assignment was handled: %v", log)
			}
			tp := msg.TopicPartition
			if tp.Offset != next[tp.Partition] {
				t.Fatalf("partition %d: offset %d, want %d (a record lost, repeated or out of order)", tp.Partition, tp.Offset, next[tp.Partition])
			}
			next[tp.Partition] = tp.Offset + 1
			log = append(log, "record")
			got++
		}
	}
	read(n / 2)

	// As a rewind does: halt, seek back, start again. What halt returns is
	// what was polled ahead, in order, what was handed over but not taken
	// first.
	ahead := p.halt()
	if p.active.Load() {
		t.Fatal("the poller is still active after halt")
	}
	for _, ev := range ahead {
		msg, ok := ev.(*kafka.Message)
		if !ok {
			continue
		}
		tp := msg.TopicPartition
		if tp.Offset != next[tp.Partition] {
			t.Fatalf("polled ahead: partition %d offset %d, want %d", tp.Partition, tp.Offset, next[tp.Partition])
		}
		next[tp.Partition] = tp.Offset + 1
	}
	if len(assigned) != partitions {
		t.Fatalf("assigned %v, want %d partitions", assigned, partitions)
	}
	start := make([]kafka.TopicPartition, len(assigned))
	for i, tp := range assigned {
		start[i] = kafka.TopicPartition{Topic: &topic, Partition: tp.Partition, Offset: 0}
		next[tp.Partition] = 0
	}
	if _, err := consumer.SeekPartitions(start); err != nil {
		t.Fatal(err)
	}
	p.start()
	read(n) // all of them again, from offset 0: nothing polled before the seek
	p.halt()

	done := make(chan error, 1)
	go func() { done <- consumer.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return within 30s (a revocation handed to a halted poller?)")
	}
	if last := log[len(log)-1]; last != "revoked" {
		t.Fatalf("Close did not run the revocation: log ends with %q", last)
	}
}

// goroutineID is the calling goroutine's number, from its stack header
// ("goroutine 7 [running]:").
func goroutineID() uint64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	buf = bytes.TrimPrefix(buf, []byte("goroutine "))
	id, _ := strconv.ParseUint(string(buf[:bytes.IndexByte(buf, ' ')]), 10, 64)
	return id
}
