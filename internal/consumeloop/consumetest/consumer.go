// Package consumetest is a fake Kafka consumer for tests of a
// consumeloop.Loop and its Handlers, without a broker: partitions of records
// the test appends, a group whose rebalances the test triggers, committed
// and stored offsets, pause, seek and end offsets, in memory. Poll waits on
// a timer and a channel, so it runs inside testing/synctest bubbles, where
// timeouts take no real time.
package consumetest

import (
	"cmp"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Consumer is the fake. Its methods are safe for concurrent use; the
// rebalance callback runs inside Poll, on the polling goroutine, as
// librdkafka's does.
type Consumer struct {
	group string
	wake  chan struct{}

	mu        sync.Mutex
	logs      map[partitionKey][]*kafka.Message
	assigned  map[partitionKey]int64 // next offset to hand out
	paused    map[partitionKey]bool
	atEnd     map[partitionKey]bool // PartitionEOF sent at the current position
	committed map[partitionKey]kafka.TopicPartition
	stored    map[partitionKey]kafka.Offset
	pending   []kafka.Event // rebalances and errors to deliver, in order
	lost      bool          // AssignmentLost, while a lost revocation is delivered
	callback  kafka.RebalanceCb
	closed    bool
	seeks     int
	turn      int // where the round-robin over partitions goes on
	// beforeRecord, when set, is asked before each record is handed out.
	beforeRecord func(topic string, partition int32, offset int64) bool
	// closeHold, when set, holds Close until it is closed.
	closeHold <-chan struct{}
}

type partitionKey struct {
	topic     string
	partition int32
}

func keyOf(tp kafka.TopicPartition) partitionKey {
	return partitionKey{topic: *tp.Topic, partition: tp.Partition}
}

// New returns a consumer in group with no topics.
func New(group string) *Consumer {
	return &Consumer{
		group: group, wake: make(chan struct{}, 1),
		logs: map[partitionKey][]*kafka.Message{}, assigned: map[partitionKey]int64{},
		paused: map[partitionKey]bool{}, atEnd: map[partitionKey]bool{},
		committed: map[partitionKey]kafka.TopicPartition{}, stored: map[partitionKey]kafka.Offset{},
	}
}

func (c *Consumer) notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// CreateTopic makes topic exist with partitions partitions, empty (a topic
// exists once a partition of it has records, too).
func (c *Consumer) CreateTopic(topic string, partitions int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := range int32(partitions) {
		k := partitionKey{topic, p}
		if c.logs[k] == nil {
			c.logs[k] = []*kafka.Message{}
		}
	}
}

// Append adds records to the end of a partition, setting their position.
func (c *Consumer) Append(topic string, partition int32, records ...*kafka.Message) {
	c.mu.Lock()
	k := partitionKey{topic, partition}
	for _, m := range records {
		m.TopicPartition = kafka.TopicPartition{Topic: &topic, Partition: partition, Offset: kafka.Offset(len(c.logs[k]))}
		c.logs[k] = append(c.logs[k], m)
	}
	c.mu.Unlock()
	c.notify()
}

// Assign makes the group assign partitions (topic, p) for each p: the next
// Poll calls the rebalance callback.
func (c *Consumer) Assign(topic string, partitions ...int32) {
	c.deliver(kafka.AssignedPartitions{Partitions: list(topic, partitions)})
}

// Revoke makes the group revoke partitions; lost says another member owns
// them already (AssignmentLost during the callback).
func (c *Consumer) Revoke(topic string, lost bool, partitions ...int32) {
	ev := kafka.RevokedPartitions{Partitions: list(topic, partitions)}
	if lost {
		c.deliver(lostRevocation{ev})
		return
	}
	c.deliver(ev)
}

// lostRevocation marks a revocation delivered with AssignmentLost true.
type lostRevocation struct{ kafka.RevokedPartitions }

// BeforeRecord makes Poll call hook, without holding the fake, before it
// hands out each record, until hook returns true. The hook may trigger a
// rebalance (Revoke, Assign) or an error: Poll then delivers that first, as
// if the group had rebalanced just before the record.
func (c *Consumer) BeforeRecord(hook func(topic string, partition int32, offset int64) bool) {
	c.mu.Lock()
	c.beforeRecord = hook
	c.mu.Unlock()
}

// HoldClose makes Close wait until release is closed before it revokes and
// closes: a group coordinator that does not answer the member leaving.
func (c *Consumer) HoldClose(release <-chan struct{}) {
	c.mu.Lock()
	c.closeHold = release
	c.mu.Unlock()
}

// Fail makes the next Poll return err.
func (c *Consumer) Fail(err kafka.Error) { c.deliver(err) }

func (c *Consumer) deliver(ev kafka.Event) {
	c.mu.Lock()
	c.pending = append(c.pending, ev)
	c.mu.Unlock()
	c.notify()
}

func list(topic string, partitions []int32) []kafka.TopicPartition {
	out := make([]kafka.TopicPartition, len(partitions))
	for i, p := range partitions {
		out[i] = kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetInvalid}
	}
	return out
}

// SubscribeTopics keeps the rebalance callback; the test assigns.
func (c *Consumer) SubscribeTopics(_ []string, cb kafka.RebalanceCb) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.callback = cb
	return nil
}

// Poll returns the next event: a pending error, the next record of an
// assigned partition that is not paused, or a partition's end once it is
// reached; a pending rebalance is delivered to the callback (Poll then
// returns nil). It waits up to timeoutMs for one.
func (c *Consumer) Poll(timeoutMs int) kafka.Event {
	timer := time.NewTimer(time.Duration(timeoutMs) * time.Millisecond)
	defer timer.Stop()
	for {
		ev, rebalance := c.take()
		if rebalance != nil {
			c.rebalance(rebalance)
			return nil
		}
		if ev != nil {
			return ev
		}
		select {
		case <-c.wake:
		case <-timer.C:
			return nil
		}
	}
}

// take returns the next event, or the next rebalance to deliver.
func (c *Consumer) take() (kafka.Event, kafka.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		ev, rebalance, asked := c.takeLocked()
		if !asked {
			return ev, rebalance
		}
	}
}

// takeLocked is take; asked says the BeforeRecord hook was done and take
// must look again.
func (c *Consumer) takeLocked() (ev kafka.Event, rebalance kafka.Event, asked bool) {
	if c.closed {
		return nil, nil, false
	}
	if len(c.pending) > 0 {
		ev := c.pending[0]
		c.pending = c.pending[1:]
		if e, ok := ev.(kafka.Error); ok {
			return e, nil, false
		}
		return nil, ev, false
	}
	keys := c.assignedKeys()
	for i := range keys {
		// Round-robin over the partitions, as fetches interleave them.
		k := keys[(c.turn+i)%len(keys)]
		next := c.assigned[k]
		if c.paused[k] || next >= int64(len(c.logs[k])) {
			continue
		}
		if hook := c.beforeRecord; hook != nil {
			c.mu.Unlock()
			done := hook(k.topic, k.partition, next)
			c.mu.Lock()
			if done {
				c.beforeRecord = nil
				return nil, nil, true
			}
		}
		c.assigned[k] = next + 1
		c.atEnd[k] = false
		c.turn = (c.turn + i + 1) % len(keys)
		return c.logs[k][next], nil, false
	}
	for _, k := range keys {
		next := c.assigned[k]
		if !c.paused[k] && !c.atEnd[k] && next >= int64(len(c.logs[k])) {
			c.atEnd[k] = true
			topic := k.topic
			return kafka.PartitionEOF{Topic: &topic, Partition: k.partition, Offset: kafka.Offset(next)}, nil, false
		}
	}
	return nil, nil, false
}

// assignedKeys returns the assigned partitions in order, so that records
// come in the same order on every run.
func (c *Consumer) assignedKeys() []partitionKey {
	keys := make([]partitionKey, 0, len(c.assigned))
	for k := range c.assigned {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b partitionKey) int {
		return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
	})
	return keys
}

func (c *Consumer) rebalance(ev kafka.Event) {
	c.mu.Lock()
	cb := c.callback
	if lr, ok := ev.(lostRevocation); ok {
		c.lost, ev = true, lr.RevokedPartitions
	}
	c.mu.Unlock()
	if cb != nil {
		_ = cb(nil, ev)
	}
	c.mu.Lock()
	c.lost = false
	c.mu.Unlock()
}

// IncrementalAssign starts handing out records of partitions at their
// offsets: a stored offset (kafka.OffsetStored or kafka.OffsetInvalid)
// means the committed one, else the beginning.
func (c *Consumer) IncrementalAssign(partitions []kafka.TopicPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range partitions {
		k := keyOf(tp)
		c.assigned[k] = c.resolve(k, tp.Offset)
		c.atEnd[k] = false
	}
	c.notify()
	return nil
}

func (c *Consumer) resolve(k partitionKey, offset kafka.Offset) int64 {
	switch offset {
	case kafka.OffsetBeginning:
		return 0
	case kafka.OffsetEnd:
		return int64(len(c.logs[k]))
	case kafka.OffsetStored, kafka.OffsetInvalid:
		if tp, ok := c.committed[k]; ok {
			return int64(tp.Offset)
		}
		return 0
	}
	return int64(offset)
}

// IncrementalUnassign stops handing out records of partitions.
func (c *Consumer) IncrementalUnassign(partitions []kafka.TopicPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range partitions {
		delete(c.assigned, keyOf(tp))
		delete(c.paused, keyOf(tp))
	}
	return nil
}

// AssignmentLost is true during the callback of a lost revocation.
func (c *Consumer) AssignmentLost() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lost
}

// Pause stops handing out records of partitions.
func (c *Consumer) Pause(partitions []kafka.TopicPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range partitions {
		c.paused[keyOf(tp)] = true
	}
	return nil
}

// Resume undoes Pause.
func (c *Consumer) Resume(partitions []kafka.TopicPartition) error {
	c.mu.Lock()
	for _, tp := range partitions {
		delete(c.paused, keyOf(tp))
	}
	c.mu.Unlock()
	c.notify()
	return nil
}

// SeekPartitions moves assigned partitions to their offsets.
func (c *Consumer) SeekPartitions(partitions []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seeks++
	for _, tp := range partitions {
		k := keyOf(tp)
		if _, ok := c.assigned[k]; !ok {
			return nil, kafka.NewError(kafka.ErrState, "seek on a partition not assigned", false)
		}
		c.assigned[k] = c.resolve(k, tp.Offset)
		c.atEnd[k] = false
	}
	c.notify()
	return partitions, nil
}

// Close revokes what is assigned, through the callback, and ends the fake.
func (c *Consumer) Close() error {
	c.mu.Lock()
	hold := c.closeHold
	c.mu.Unlock()
	if hold != nil {
		<-hold
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("consumer closed twice")
	}
	var parts []kafka.TopicPartition
	for k := range c.assigned {
		topic := k.topic
		parts = append(parts, kafka.TopicPartition{Topic: &topic, Partition: k.partition})
	}
	cb := c.callback
	c.mu.Unlock()
	if len(parts) > 0 && cb != nil {
		_ = cb(nil, kafka.RevokedPartitions{Partitions: parts})
	}
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

// Reopen makes a closed fake a new consumer of the same group, with the
// same partitions and committed offsets and nothing assigned: the next
// member after one that left.
func (c *Consumer) Reopen() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed, c.callback = false, nil
	c.pending, c.beforeRecord = nil, nil
	clear(c.assigned)
	clear(c.paused)
	clear(c.atEnd)
}

// Committed returns the committed offsets of partitions, with their
// metadata; kafka.OffsetInvalid where nothing is committed.
func (c *Consumer) Committed(partitions []kafka.TopicPartition, _ int) ([]kafka.TopicPartition, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]kafka.TopicPartition, len(partitions))
	for i, tp := range partitions {
		out[i] = kafka.TopicPartition{Topic: tp.Topic, Partition: tp.Partition, Offset: kafka.OffsetInvalid}
		if got, ok := c.committed[keyOf(tp)]; ok {
			out[i].Offset, out[i].Metadata = got.Offset, got.Metadata
		}
	}
	return out, nil
}

// Commit commits offsets (with their metadata) for the group, as a
// transaction's SendOffsetsToTransaction does once it commits.
func (c *Consumer) Commit(offsets []kafka.TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range offsets {
		c.committed[keyOf(tp)] = tp
	}
}

// StoreOffsets stores offsets for the next (automatic) commit.
func (c *Consumer) StoreOffsets(offsets []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range offsets {
		c.stored[keyOf(tp)] = tp.Offset
	}
	return offsets, nil
}

// Stored returns the offset stored for a partition, or kafka.OffsetInvalid.
func (c *Consumer) Stored(topic string, partition int32) kafka.Offset {
	c.mu.Lock()
	defer c.mu.Unlock()
	if o, ok := c.stored[partitionKey{topic, partition}]; ok {
		return o
	}
	return kafka.OffsetInvalid
}

// Position returns the next offset the fake hands out for an assigned
// partition, and whether it is assigned.
func (c *Consumer) Position(topic string, partition int32) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next, ok := c.assigned[partitionKey{topic, partition}]
	return next, ok
}

// Seeks counts SeekPartitions calls.
func (c *Consumer) Seeks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seeks
}

// GetWatermarkOffsets returns a partition's first and end offsets.
func (c *Consumer) GetWatermarkOffsets(topic string, partition int32) (int64, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return 0, int64(len(c.logs[partitionKey{topic, partition}])), nil
}

// QueryWatermarkOffsets is GetWatermarkOffsets, as asked of the broker.
func (c *Consumer) QueryWatermarkOffsets(topic string, partition int32, _ int) (int64, int64, error) {
	return c.GetWatermarkOffsets(topic, partition)
}

// GetMetadata describes the topics that have records, with as many
// partitions as the greatest one with records.
func (c *Consumer) GetMetadata(topic *string, allTopics bool, _ int) (*kafka.Metadata, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	md := &kafka.Metadata{Topics: map[string]kafka.TopicMetadata{}}
	for k := range c.logs {
		if !allTopics && (topic == nil || *topic != k.topic) {
			continue
		}
		t := md.Topics[k.topic]
		t.Topic = k.topic
		for int32(len(t.Partitions)) <= k.partition {
			t.Partitions = append(t.Partitions, kafka.PartitionMetadata{ID: int32(len(t.Partitions))})
		}
		md.Topics[k.topic] = t
	}
	return md, nil
}

// GetConsumerGroupMetadata returns the group's metadata, for a
// transactional producer's SendOffsetsToTransaction.
func (c *Consumer) GetConsumerGroupMetadata() (*kafka.ConsumerGroupMetadata, error) {
	return kafka.NewTestConsumerGroupMetadata(c.group)
}
