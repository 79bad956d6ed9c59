package bench

import (
	"context"
	"fmt"
	"time"

	"tickcompact/internal/tools/tradegen"
	"tickcompact/sink"
)

// runEndToEnd is row 7: the whole pipeline live (generator, aggregator,
// sink in envelope format, Redis, gateway), timed from each window's end to
// a WebSocket client receiving the update.
func (e *env) runEndToEnd(ctx context.Context) []Row {
	warm, measure := 4*time.Second, 20*time.Second
	if e.opts.Quick {
		warm, measure = 2*time.Second, 6*time.Second
	}
	var rows []Row
	for i, r := range []float64{1000, 50_000} {
		id := fmt.Sprintf("7%c", 'a'+i)
		row, err := e.endToEndAt(ctx, id, r, warm, measure)
		if err != nil {
			row = Failed(id, fmt.Sprintf("End to end to a WebSocket client, live %s trades/s", thousands(int64(r))), "p99 <= 150 ms", err)
		}
		rows = append(rows, row)
	}
	e.notef("row 7: tradegen paced live (900 ISINs) into a fresh 6-partition topic; the aggregator, sink (redis.format envelope) and gateway binaries with their defaults; one WebSocket client in this process subscribed to every instrument; %v warm-up, then %v measured. Figure = exact quantiles, over every update the client received in the measured interval, of its receive time minus its window end. Limit = the aggregator's emission delay (commit - window end) p99 in the same interval: what the last hops (Kafka read_committed, sink, Redis, gateway, WebSocket) add is the difference.", warm, measure)
	return rows
}

func (e *env) endToEndAt(ctx context.Context, id string, target float64, warm, measure time.Duration) (Row, error) {
	if e.opts.SinkBin == "" {
		return Row{}, fmt.Errorf("no sink binary (--sink-bin)")
	}
	redis, err := startRedis(ctx, e.opts.WorkDir)
	if err != nil {
		return Row{}, err
	}
	defer redis.Stop()
	topic := uniqueName("live")
	agg, err := e.startLive(ctx, topic)
	if err != nil {
		return Row{}, err
	}
	defer agg.Stop()
	snk, err := startService(ctx, "sink", e.opts.SinkBin, e.opts.WorkDir, e.perfDir(), e.opts.ServiceEnv, append([]string{
		"--kafka.brokers=" + e.cluster.Brokers,
		"--input.topic=" + agg.Output,
		"--input.group=" + uniqueName("sink"),
		"--redis.addr=" + redis.Addr,
		"--redis.format=" + sink.FormatEnvelope,
		"--http.addr=127.0.0.1:0",
		"--log.level=info",
	}, e.opts.SinkFlags...))
	if err != nil {
		return Row{}, err
	}
	defer snk.Stop()
	gw, err := e.startGateway(ctx, redis.Addr)
	if err != nil {
		return Row{}, err
	}
	defer gw.Stop()
	for _, s := range []*service{snk, gw} {
		if err := s.WaitReady(ctx, time.Minute); err != nil {
			return Row{}, err
		}
	}
	clients, err := dialClients(ctx, "ws"+gw.BaseURL[len("http"):]+"/ws", 1, true)
	if err != nil {
		return Row{}, err
	}
	defer closeClients(clients)
	client := clients[0]
	go client.run(ctx)

	live, err := e.liveFeed(ctx, id+" (through the gateway)", topic, agg, tradegen.Options{Seed: 13, Instruments: 900, Rate: target}, warm, measure)
	switch {
	case err != nil:
		return Row{}, err
	case client.closeErr() != nil:
		return Row{}, fmt.Errorf("the WebSocket client was disconnected: %w", client.closeErr())
	}
	s1, s2, gen := live.s1, live.s2, live.gen
	var delays []float64
	for _, s := range client.between(s1.At, s2.At) {
		delays = append(delays, s.delays...)
	}
	if len(delays) == 0 {
		return Row{}, fmt.Errorf("the client received no update in the measured interval")
	}
	h, err := s2.HistogramSince(s1, metricEmissionDelay)
	if err != nil {
		return Row{}, err
	}
	interval := s2.At.Sub(s1.At).Seconds()
	achieved := (s2.Value(metricConsumed) - s1.Value(metricConsumed)) / interval
	p50, p99 := SampleQuantile(delays, 0.5), SampleQuantile(delays, 0.99)
	gs, _ := gw.Metrics(ctx)
	e.notef("row %s: target %s/s, generator produced %s on average, aggregator consumed %s in the measured interval; the client received %d updates in it (max delay %s); gateway: %.0f updates conflated, %.0f slow clients disconnected.",
		id, thousands(int64(target)), rate(float64(gen.Produced)/gen.Elapsed.Seconds()), rate(achieved),
		len(delays), millis(SampleQuantile(delays, 1)), gs.Value(metricGatewayConflated), gs.Value(metricGatewaySlow))
	return Row{
		ID:      id,
		Measure: fmt.Sprintf("End to end, window end to a WebSocket client, live %s trades/s (achieved %s), 900 ISINs", thousands(int64(target)), rate(achieved)),
		Figure:  fmt.Sprintf("p50 %s, p99 %s", millis(p50), millis(p99)),
		Limit:   fmt.Sprintf("aggregator emission: p99 %s", millis(h.Quantile(0.99))),
		Target:  "p99 <= 150 ms",
		Verdict: AtMost(p99, 0.15),
	}, nil
}
