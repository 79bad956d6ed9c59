package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"

	"tickcompact/internal/tools/tradegen"
)

// ErrUnreachable is wrapped when a broker or Redis given with Options.Brokers
// or Options.Redis does not answer within Options.ConnectTimeout.
var ErrUnreachable = errors.New("unreachable")

// ErrPortTaken is wrapped when an embedded server cannot listen on the port
// it was given.
var ErrPortTaken = errors.New("port taken")

// kafkaCluster is the Kafka the demo talks to: embedded or given.
type kafkaCluster struct {
	brokers  string
	embedded *kfake.Cluster
}

// startKafka starts the embedded single-broker cluster on 127.0.0.1:port
// (0: a free port), with the input topic seeded, or, when brokers is set,
// uses that cluster as it is.
func startKafka(brokers string, port, partitions int) (*kafkaCluster, error) {
	if brokers != "" {
		return &kafkaCluster{brokers: brokers}, nil
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), InputTopic)}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("demo: embedded Kafka: %w: 127.0.0.1:%d is in use (choose another with --kafka-port, or 0 for a free one): %w", ErrPortTaken, port, err)
		}
		return nil, fmt.Errorf("demo: starting embedded Kafka on port %d: %w", port, err)
	}
	return &kafkaCluster{brokers: strings.Join(cluster.ListenAddrs(), ","), embedded: cluster}, nil
}

// close stops the embedded cluster; a given one is left alone.
func (k *kafkaCluster) close() {
	if k.embedded != nil {
		k.embedded.Close()
	}
}

// ensureInputTopic checks within connectTimeout that the brokers answer, and
// creates the input topic when it is missing (a given cluster).
func ensureInputTopic(ctx context.Context, producer *kafka.Producer, brokers string, partitions, replication int, connectTimeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	_, err := tradegen.EnsureTopic(ctx, producer, InputTopic, true, partitions, replication)
	if errors.Is(err, tradegen.ErrBrokerUnreachable) {
		return fmt.Errorf("demo: Kafka at %s (--brokers): %w within %s: %w", brokers, ErrUnreachable, connectTimeout, err)
	}
	if err != nil {
		return fmt.Errorf("demo: Kafka at %s: %w", brokers, err)
	}
	return nil
}

// redisServer is the Redis the demo talks to: embedded or given.
type redisServer struct {
	addr     string
	embedded *miniredis.Miniredis
}

// startRedis starts an embedded Redis (miniredis) on 127.0.0.1:port (0: a
// free port), or, when addr is set, checks within connectTimeout that that
// Redis answers.
func startRedis(ctx context.Context, addr string, port int, connectTimeout time.Duration) (*redisServer, error) {
	if addr != "" {
		client := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 3 * time.Second, MaxRetries: -1})
		defer client.Close()
		ctx, cancel := context.WithTimeout(ctx, connectTimeout)
		defer cancel()
		if err := client.Ping(ctx).Err(); err != nil {
			return nil, fmt.Errorf("demo: Redis at %s (--redis): %w: %w", addr, ErrUnreachable, err)
		}
		return &redisServer{addr: addr}, nil
	}
	server := miniredis.NewMiniRedis()
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	if err := server.StartAddr(listen); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("demo: embedded Redis: %w: %s is in use (choose another with --redis-port, or 0 for a free one): %w", ErrPortTaken, listen, err)
		}
		return nil, fmt.Errorf("demo: starting embedded Redis on %s: %w", listen, err)
	}
	return &redisServer{addr: server.Addr(), embedded: server}, nil
}

// close stops the embedded server; a given one is left alone.
func (r *redisServer) close() {
	if r.embedded != nil {
		r.embedded.Close()
	}
}
