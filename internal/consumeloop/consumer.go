package consumeloop

import "github.com/confluentinc/confluent-kafka-go/v2/kafka"

// Consumer is the part of *kafka.Consumer a Loop uses; tests substitute the
// fake of package consumetest. A Loop owns its Consumer from Run on: it
// polls it on a goroutine of its own and closes it when it ends.
type Consumer interface {
	SubscribeTopics(topics []string, rebalanceCb kafka.RebalanceCb) error
	Poll(timeoutMs int) kafka.Event
	IncrementalAssign(partitions []kafka.TopicPartition) error
	IncrementalUnassign(partitions []kafka.TopicPartition) error
	AssignmentLost() bool
	Pause(partitions []kafka.TopicPartition) error
	Resume(partitions []kafka.TopicPartition) error
	SeekPartitions(partitions []kafka.TopicPartition) ([]kafka.TopicPartition, error)
	Close() error
}

var _ Consumer = (*kafka.Consumer)(nil)
