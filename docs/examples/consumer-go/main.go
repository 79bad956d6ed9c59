// Command consumer-go reads trades-2s as a read_committed consumer and prints
// one line per record: the ISIN, the window, the trade count, how the window
// closed, the record timestamp and the trade as the feed wrote it.
//
//	go run ./docs/examples/consumer-go --brokers localhost:9092
//
// It is the example of docs/consumers.md; `make test` runs it against the
// embedded broker and `make test-integration` against a real one, beside the
// Java example in ../consumer-java.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

func main() {
	brokers := flag.String("brokers", "localhost:9092", "bootstrap brokers, host:port,...")
	topic := flag.String("topic", "trades-2s", "the aggregator's output topic")
	group := flag.String("group", "trades-2s-reader", "this reader's consumer group")
	limit := flag.Int("max", 0, "stop after this many records (0: until SIGINT or SIGTERM)")
	flag.Parse()

	c, err := newConsumer(*brokers, *group)
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer-go:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err = consume(ctx, c, *topic, *limit, os.Stdout)
	stop()
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer-go:", err)
		os.Exit(1)
	}
}

// newConsumer returns a consumer in group that reads committed records only.
func newConsumer(brokers, group string) (*kafka.Consumer, error) {
	return kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers": brokers,
		"group.id":          group,
		// librdkafka's default, spelled out: records of aborted transactions
		// must never be seen.
		"isolation.level":   "read_committed",
		"auto.offset.reset": "earliest",
	})
}

// consume subscribes c to topic and writes one line per record to out until
// ctx is done or limit records (when limit > 0) were written.
func consume(ctx context.Context, c *kafka.Consumer, topic string, limit int, out io.Writer) error {
	if err := c.SubscribeTopics([]string{topic}, nil); err != nil {
		return err
	}
	for n := 0; limit <= 0 || n < limit; {
		if ctx.Err() != nil {
			return nil
		}
		m, err := c.ReadMessage(200 * time.Millisecond)
		var kerr kafka.Error
		if errors.As(err, &kerr) && kerr.Code() == kafka.ErrTimedOut {
			continue
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(out, describe(m))
		n++
	}
	return nil
}

// describe is one record as a line: the key is the ISIN, the value the
// original bytes of the window's latest trade, the timestamp its event time.
func describe(m *kafka.Message) string {
	return fmt.Sprintf("isin=%s window-start=%s window-end=%s trade-count=%s closed-by=%s timestamp=%d value=%s",
		m.Key, header(m, "window-start"), header(m, "window-end"), header(m, "trade-count"),
		header(m, "closed-by"), m.Timestamp.UnixMilli(), m.Value)
}

// header is the value of the record's header name, "" when it has none.
func header(m *kafka.Message, name string) string {
	for _, h := range m.Headers {
		if h.Key == name {
			return string(h.Value)
		}
	}
	return ""
}
