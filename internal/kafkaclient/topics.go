package kafkaclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// ErrTopicMissing is returned by PartitionCount when the topic does not exist.
var ErrTopicMissing = errors.New("topic does not exist")

// PartitionCount returns the number of partitions of topic.
func PartitionCount(admin *kafka.AdminClient, topic string, timeout time.Duration) (int, error) {
	md, err := admin.GetMetadata(&topic, false, int(timeout.Milliseconds()))
	if err != nil {
		return 0, fmt.Errorf("reading metadata of %s: %w", topic, err)
	}
	t, ok := md.Topics[topic]
	if !ok || t.Error.Code() == kafka.ErrUnknownTopicOrPart || t.Error.Code() == kafka.ErrUnknownTopic || len(t.Partitions) == 0 {
		return 0, fmt.Errorf("%s: %w", topic, ErrTopicMissing)
	}
	if t.Error.Code() != kafka.ErrNoError {
		return 0, fmt.Errorf("reading metadata of %s: %w", topic, t.Error)
	}
	return len(t.Partitions), nil
}

// TopicSpec is a topic to create when missing.
type TopicSpec struct {
	Name        string
	Partitions  int
	Replication int // -1: the broker's default.replication.factor
	Config      map[string]string
}

// EnsureTopic creates the topic when it does not exist; an existing topic is
// left as it is (its partition count is returned).
func EnsureTopic(ctx context.Context, admin *kafka.AdminClient, spec TopicSpec) (int, error) {
	if n, err := PartitionCount(admin, spec.Name, 10*time.Second); err == nil {
		return n, nil
	} else if !errors.Is(err, ErrTopicMissing) {
		return 0, err
	}
	results, err := admin.CreateTopics(ctx, []kafka.TopicSpecification{{
		Topic:             spec.Name,
		NumPartitions:     spec.Partitions,
		ReplicationFactor: spec.Replication,
		Config:            spec.Config,
	}}, kafka.SetAdminOperationTimeout(30*time.Second))
	if err != nil {
		return 0, fmt.Errorf("creating topic %s: %w", spec.Name, err)
	}
	for _, r := range results {
		if r.Error.Code() != kafka.ErrNoError && r.Error.Code() != kafka.ErrTopicAlreadyExists {
			return 0, fmt.Errorf("creating topic %s: %w", spec.Name, r.Error)
		}
	}
	// Metadata can lag creation by a moment; wait until the partitions show.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := PartitionCount(admin, spec.Name, 5*time.Second)
		if err == nil {
			return n, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("topic %s created but not visible: %w", spec.Name, err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// AssignAll assigns every partition of topic to consumer, outside any
// consumer group, from start (kafka.OffsetBeginning, kafka.OffsetEnd ...),
// and returns how many there are: for tools that read a whole topic.
func AssignAll(consumer *kafka.Consumer, topic string, start kafka.Offset) (int, error) {
	md, err := consumer.GetMetadata(&topic, false, 10000)
	if err != nil {
		return 0, err
	}
	var parts []kafka.TopicPartition
	for _, p := range md.Topics[topic].Partitions {
		parts = append(parts, kafka.TopicPartition{Topic: &topic, Partition: p.ID, Offset: start})
	}
	if len(parts) == 0 {
		return 0, fmt.Errorf("topic %s has no partitions", topic)
	}
	return len(parts), consumer.Assign(parts)
}
