package bench

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/tools/hostile"
	"tickcompact/internal/tools/tradegen"
)

// hostileTarget is issue 8's bound: with hostile records mixed in, the
// aggregator drains the trades in no more than twice the time they take
// alone, i.e. at no less than half the rate in trades per second.
const hostileTarget = 0.5

// runHostile is row 6: the aggregator drains row 2's trades with hostile
// records mixed in, against draining the same trades alone before and after.
func (e *env) runHostile(ctx context.Context) []Row {
	const id, measure, target = "6", "Hostile records in the backlog", ">= 0.5 x limit"
	n := int64(2_000_000)
	if e.opts.Quick {
		n = 200_000
	}
	row, err := e.hostileDrain(ctx, n)
	if err != nil {
		return []Row{Failed(id, measure, target, err)}
	}
	return []Row{row}
}

func (e *env) hostileDrain(ctx context.Context, n int64) (Row, error) {
	clean, err := e.trades(ctx, n)
	if err != nil {
		return Row{}, err
	}
	mixed, rejects, err := e.mixedBacklog(ctx, clean)
	if err != nil {
		return Row{}, err
	}
	// Trades alone, mixed, trades alone: the better clean drain is the
	// limit, as row 2 takes the better of its two bare loops. No side is
	// profiled (row 2 profiles the clean drain).
	var w [3]drainWatch
	for i, b := range []*tradeBacklog{clean, mixed, clean} {
		if w[i], err = e.aggregatorDrain(ctx, b, ""); err != nil {
			return Row{}, fmt.Errorf("drain %d of 3 (%s): %w", i+1, b.topic, err)
		}
		e.logf("row 6: aggregator over %s: %s", b.topic, tradesPerSecond(float64(n)/w[i].Took().Seconds()))
	}
	cleanTook := min(w[0].Took(), w[2].Took())
	mixedTook := w[1].Took()
	for _, c := range []drainWatch{w[0], w[2]} {
		if w[1].Emitted != c.Emitted {
			return Row{}, fmt.Errorf("the aggregator emitted %.0f records from the trades alone and %.0f with hostile records mixed in", c.Emitted, w[1].Emitted)
		}
	}
	if w[1].Rejected != float64(rejects) {
		return Row{}, fmt.Errorf("mixed backlog: dlq_records_total is %.0f, %d records were hostile", w[1].Rejected, rejects)
	}
	cleanRate, mixedRate := float64(n)/cleanTook.Seconds(), float64(n)/mixedTook.Seconds()
	ratio := mixedRate / cleanRate
	e.notef("row 6: row 2's %s trades, and the same trades in the same order with %s hostile records inserted at random places (internal/tools/hostile: the fault suite's kinds at %g times its counts, ~900 KB values included, without the zero-timestamp kind, which librdkafka would stamp with the current time), preloaded with tradegen's producer settings. Drained by the aggregator binary as in row 2, trades alone, mixed, trades alone again, each from the first record consumed to every checkpoint at the end: %v, %v, %v; rate = trades (hostile records not counted) / that time, so the ratio is the inverse of the drain times'; counting the hostile records, the mixed drain ran at %s. Each drain emitted %.0f records; the mixed one sent %.0f to the DLQ.",
		thousands(n), thousands(rejects), float64(n)/200_000, w[0].Took().Round(time.Millisecond), mixedTook.Round(time.Millisecond), w[2].Took().Round(time.Millisecond),
		rate(float64(mixed.records)/mixedTook.Seconds()), w[1].Emitted, w[1].Rejected)
	return Row{
		ID:      "6",
		Measure: fmt.Sprintf("Hostile records: %s trades + %s hostile records mixed in", thousands(n), thousands(rejects)),
		Figure:  fmt.Sprintf("%s (%.2f x)", tradesPerSecond(mixedRate), ratio),
		Limit:   fmt.Sprintf("%s, the same trades alone", tradesPerSecond(cleanRate)),
		Target:  ">= 0.5 x limit",
		Verdict: AtLeast(ratio, hostileTarget),
	}, nil
}

func tradesPerSecond(r float64) string { return strings.TrimSuffix(rate(r), "/s") + " trades/s" }

// mixedBacklog preloads a fresh topic with clean's trades, in their order,
// and hostile records at random places between them: of every kind of
// internal/tools/hostile but the zero-timestamp one, its count times
// clean.records / 200,000 (the fault suite mixes 10,000 into 200,000 trades;
// without that kind, 4.75 % of the trades). It returns the backlog and how
// many hostile records it holds.
func (e *env) mixedBacklog(ctx context.Context, clean *tradeBacklog) (*tradeBacklog, int64, error) {
	rng := rand.New(rand.NewSource(8))
	var kinds []int // one entry per hostile record: its index in hostile.Kinds
	for i, k := range hostile.Kinds {
		if k.ZeroTimestamp {
			continue
		}
		for range int64(k.Count) * clean.records / 200_000 {
			kinds = append(kinds, i)
		}
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	at := make([]int64, len(kinds)) // the trade each hostile record precedes
	for i := range at {
		at[i] = rng.Int63n(clean.records)
	}
	slices.Sort(at)

	topic := uniqueName("mixed")
	if err := e.cluster.CreateTopicWithConfig(ctx, topic, backlogPartitions,
		// The far-future kind is a day ahead; Kafka 4 refuses records more
		// than an hour ahead by default.
		map[string]string{"message.timestamp.after.max.ms": "9223372036854775807"}); err != nil {
		return nil, 0, err
	}
	g, err := tradegen.NewGenerator(clean.gen)
	if err != nil {
		return nil, 0, err
	}
	universe := g.Instruments()
	e.logf("row 6: preloading the same trades and %s hostile records into %s", thousands(int64(len(kinds))), topic)
	began := time.Now()
	fp, err := e.newFeedProducer()
	if err != nil {
		return nil, 0, err
	}
	message := func(key, value []byte, ts time.Time) *kafka.Message {
		return &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: key, Value: value, Timestamp: ts}
	}
	next := 0
	for i := range clean.records {
		r := g.Next()
		for ; next < len(at) && at[next] == i; next++ {
			key, value, ts := hostile.Kinds[kinds[next]].Make(rng, universe[rng.Intn(len(universe))].ISIN, r.Timestamp)
			if err := fp.produce(ctx, message(key, value, ts)); err != nil {
				_ = fp.close()
				return nil, 0, err
			}
		}
		if err := fp.produce(ctx, message(r.Key, r.Value, r.Timestamp)); err != nil {
			_ = fp.close()
			return nil, 0, err
		}
	}
	if err := fp.close(); err != nil {
		return nil, 0, fmt.Errorf("preloading: %w", err)
	}
	ends, err := e.cluster.EndOffsets(topic, backlogPartitions)
	if err != nil {
		return nil, 0, err
	}
	total := clean.records + int64(len(kinds))
	if sum(ends) != total {
		return nil, 0, fmt.Errorf("preloaded %d records, the topic holds %d", total, sum(ends))
	}
	e.logf("row 6: preloaded in %v", time.Since(began).Round(time.Millisecond))
	mixed := *clean
	mixed.topic, mixed.ends, mixed.records = topic, ends, total
	return &mixed, int64(len(kinds)), nil
}
