package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"tickcompact/internal/envelope"
	"tickcompact/internal/redisconn"
	"tickcompact/internal/tools/tradegen"
	"tickcompact/sink"
)

// fanoutSize is row 8's load: clients each subscribed to every one of the
// instruments, one update per instrument per 2-second window.
type fanoutSize struct {
	clients, instruments, warm, measured int
}

// runFanout is row 8: the gateway serving many clients subscribed to every
// instrument, against a bare loop writing the same frames to as many
// connections.
func (e *env) runFanout(ctx context.Context) []Row {
	size := fanoutSize{clients: 2000, instruments: 900, warm: 3, measured: 15}
	if e.opts.Quick {
		size = fanoutSize{clients: 200, instruments: 900, warm: 2, measured: 4}
	}
	const id, target = "8", ">= 0.7 x limit, no client's delay growing"
	measure := fmt.Sprintf("Gateway fan-out: %s WebSocket clients x %d instruments, one window per 2 s", thousands(int64(size.clients)), size.instruments)
	row, err := e.fanout(ctx, id, measure, target, size)
	if err != nil {
		return []Row{Failed(id, measure, target, err)}
	}
	e.notef("row 8: every window, this process writes one envelope per instrument through the sink's RedisWriter (the snapshot script, Pub/Sub) at the window's end; %d clients in this process, each subscribed to every instrument, read every message and note its receive time minus its window end. %d windows of warm-up, %d measured. Limit = a bare loop in this process: an HTTP server accepting as many WebSocket connections (coder/websocket, as the gateway), writing each window the same updates frame (the same envelopes, the gateway's message format) to every connection from a goroutine per connection, read by the same clients. Updates/s = updates received by all clients in the measured windows / their span. Growth = per client, the median delay of the last third of the measured windows minus that of the first third; the largest over clients must stay under 250 ms, and no client may be disconnected.", size.clients, size.warm, size.measured)
	return []Row{row}
}

// fanoutResult is one side's figures.
type fanoutResult struct {
	updatesPerSec float64
	p50, p99      float64
	maxGrowth     float64
	disconnected  int
	cpu           float64 // cores, gateway side only
	rss, peakRSS  int64
}

func (e *env) fanout(ctx context.Context, id, measure, target string, size fanoutSize) (Row, error) {
	redisServer, err := startRedis(ctx, e.opts.WorkDir)
	if err != nil {
		return Row{}, err
	}
	defer redisServer.Stop()
	feed, err := newWindowFeed(redisServer.Addr, size.instruments)
	if err != nil {
		return Row{}, err
	}
	defer feed.close()
	// The snapshot holds every instrument before the clients connect.
	if err := feed.write(ctx, time.Now().Truncate(2*time.Second).UnixMilli()); err != nil {
		return Row{}, err
	}

	gw, err := e.startGateway(ctx, redisServer.Addr, fmt.Sprintf("--websocket.max_connections=%d", size.clients+10))
	if err != nil {
		return Row{}, err
	}
	if err := gw.WaitReady(ctx, time.Minute); err != nil {
		gw.Stop()
		return Row{}, err
	}
	e.logf("row %s: %d clients on the gateway, %d+%d windows", id, size.clients, size.warm, size.measured)
	gwRes, err := e.fanoutSide(ctx, "ws"+gw.BaseURL[len("http"):]+"/ws", size, feed.write, gw.Pid())
	gwScrape, scrapeErr := gw.Metrics(ctx)
	gw.Stop()
	if err == nil {
		err = scrapeErr
	}
	if err != nil {
		return Row{}, fmt.Errorf("gateway (%.0f messages and %.0f updates sent, %.0f slow clients disconnected, %.0f connections left; log %s): %w",
			gwScrape.Value(metricGatewayMessagesSent), gwScrape.Value(metricGatewayUpdatesSent), gwScrape.Value(metricGatewaySlow),
			gwScrape.Value(metricGatewayConnections), gw.logPath, err)
	}

	bare, err := startBareServer()
	if err != nil {
		return Row{}, err
	}
	defer bare.close()
	e.logf("row %s: %d clients on the bare loop, %d+%d windows", id, size.clients, size.warm, size.measured)
	bareRes, err := e.fanoutSide(ctx, bare.url, size, func(ctx context.Context, end int64) error {
		bare.broadcast(feed.frame(end))
		return nil
	}, 0)
	if err != nil {
		return Row{}, fmt.Errorf("bare loop: %w", err)
	}

	ratio := gwRes.updatesPerSec / bareRes.updatesPerSec
	e.notef("row %s: gateway: %s, delay p50 %s p99 %s, max growth %s, %d disconnected, CPU %.2f cores, RSS %s (peak %s); %.0f updates conflated, %.0f slow clients disconnected, %.0f ping timeouts. Bare loop: %s, delay p50 %s p99 %s, max growth %s, %d disconnected.",
		id, updatesPerSecond(gwRes.updatesPerSec), millis(gwRes.p50), millis(gwRes.p99), millis(gwRes.maxGrowth), gwRes.disconnected,
		gwRes.cpu, megabytes(gwRes.rss), megabytes(gwRes.peakRSS), gwScrape.Value(metricGatewayConflated), gwScrape.Value(metricGatewaySlow),
		gwScrape.Value(metricGatewayPingTimeouts),
		updatesPerSecond(bareRes.updatesPerSec), millis(bareRes.p50), millis(bareRes.p99), millis(bareRes.maxGrowth), bareRes.disconnected)
	return Row{
		ID:      id,
		Measure: measure,
		Figure: fmt.Sprintf("%s (%.2f x), p99 %s, growth %s, %d disconnected; gateway CPU %.2f cores, RSS %s",
			updatesPerSecond(gwRes.updatesPerSec), ratio, millis(gwRes.p99), millis(gwRes.maxGrowth), gwRes.disconnected, gwRes.cpu, megabytes(gwRes.peakRSS)),
		Limit:   fmt.Sprintf("bare loop: %s, p99 %s", updatesPerSecond(bareRes.updatesPerSec), millis(bareRes.p99)),
		Target:  target,
		Verdict: All(AtLeast(ratio, 0.7), AtMost(gwRes.maxGrowth, 0.25), AtMost(float64(gwRes.disconnected), 0)),
	}, nil
}

func updatesPerSecond(r float64) string { return strings.TrimSuffix(rate(r), "/s") + " updates/s" }

// fanoutSide connects the clients to url, calls publish at each window's
// end for the warm-up and measured windows, and returns the figures. pid,
// when not 0, is the process whose CPU and memory are reported.
func (e *env) fanoutSide(ctx context.Context, url string, size fanoutSize, publish func(context.Context, int64) error, pid int) (fanoutResult, error) {
	var res fanoutResult
	clients, err := dialClients(ctx, url, size.clients, false)
	if err != nil {
		return res, err
	}
	defer closeClients(clients)
	for _, c := range clients {
		go c.run(ctx)
	}
	next := time.Now().Truncate(2 * time.Second).Add(2 * time.Second)
	var measuredFrom, measuredTo int64
	var cpuStart cpuSample
	for w := 0; w < size.warm+size.measured; w++ {
		if !sleep(ctx, time.Until(next)) {
			return res, ctx.Err()
		}
		if w == size.warm {
			measuredFrom = next.UnixMilli()
			if pid != 0 {
				cpuStart = sampleCPU(pid)
			}
		}
		if err := publish(ctx, next.UnixMilli()); err != nil {
			return res, err
		}
		measuredTo = next.UnixMilli()
		next = next.Add(2 * time.Second)
	}
	// The last window's updates arrive within the next one, or never.
	sleep(ctx, 2*time.Second)
	if pid != 0 {
		res.cpu = sampleCPU(pid).since(cpuStart).procs[0]
		res.rss, _ = procStatusBytes(pid, "VmRSS")
		res.peakRSS, _ = procStatusBytes(pid, "VmHWM")
	}

	var delays []float64
	updates := 0
	third := int64(size.measured/3) * 2000
	for _, c := range clients {
		if c.closeErr() != nil {
			res.disconnected++
		}
		var early, late []float64
		for _, s := range c.between(time.UnixMilli(measuredFrom), time.Now()) {
			if s.windowEnd < measuredFrom || s.windowEnd > measuredTo {
				continue
			}
			d := s.received.Sub(time.UnixMilli(s.windowEnd)).Seconds()
			delays = append(delays, d)
			updates += s.updates
			switch {
			case s.windowEnd < measuredFrom+third:
				early = append(early, d)
			case s.windowEnd > measuredTo-third:
				late = append(late, d)
			}
		}
		if len(early) > 0 && len(late) > 0 {
			res.maxGrowth = max(res.maxGrowth, SampleQuantile(late, 0.5)-SampleQuantile(early, 0.5))
		}
	}
	if len(delays) == 0 {
		return res, fmt.Errorf("no client received an update of the measured windows (%d of %d clients disconnected)", res.disconnected, len(clients))
	}
	span := float64(measuredTo-measuredFrom)/1000 + 2
	res.updatesPerSec = float64(updates) / span
	res.p50, res.p99 = SampleQuantile(delays, 0.5), SampleQuantile(delays, 0.99)
	return res, nil
}

// windowFeed writes one envelope per instrument per window to Redis through
// the sink's writer, as the sink in envelope format would.
type windowFeed struct {
	client      redis.UniversalClient
	writer      *sink.RedisWriter
	instruments []tradegen.Instrument
	seq         int64
	envelopes   [][]byte
}

func newWindowFeed(addr string, instruments int) (*windowFeed, error) {
	defaults := sink.Defaults()
	cfg := sink.RedisConfig{
		Config:      redisconn.Config{Addr: addr, Timeout: 5 * time.Second},
		Channel:     defaults["redis.channel"].(string),
		SnapshotKey: defaults["redis.snapshot_key"].(string),
		BatchSize:   instruments,
		Format:      sink.FormatEnvelope,
	}
	client, err := sink.NewRedisClient(cfg)
	if err != nil {
		return nil, err
	}
	return &windowFeed{client: client, writer: sink.NewRedisWriter(client, cfg), instruments: tradegen.Universe(instruments)}, nil
}

// envelopesAt makes one envelope per instrument for the window ending at end.
func (f *windowFeed) envelopesAt(end int64) [][]byte {
	f.envelopes = f.envelopes[:0]
	for i := range f.instruments {
		in := &f.instruments[i]
		f.seq++
		trade := appendTrade(make([]byte, 0, 192), in, 1+f.seq%500, "buy", end-1, f.seq)
		f.envelopes = append(f.envelopes, envelope.Append(make([]byte, 0, len(trade)+96),
			&envelope.Envelope{ISIN: in.ISIN, WindowStart: end - 2000, WindowEnd: end, TradeCount: 1 + f.seq%40, Trade: trade}))
	}
	return f.envelopes
}

// write applies the window ending at end to Redis.
func (f *windowFeed) write(ctx context.Context, end int64) error {
	envs := f.envelopesAt(end)
	updates := make([]sink.Update, len(envs))
	for i, env := range envs {
		updates[i] = sink.Update{ISIN: f.instruments[i].ISIN, WindowEnd: end, Value: env}
	}
	_, _, err := f.writer.WriteBatch(ctx, updates)
	return err
}

// frame is the gateway's updates message holding the window ending at end:
// {"type":"updates","items":[envelope,...]} (docs/websocket.md).
func (f *windowFeed) frame(end int64) []byte {
	b := []byte(`{"type":"updates","items":[`)
	for i, env := range f.envelopesAt(end) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, env...)
	}
	return append(b, ']', '}')
}

func (f *windowFeed) close() { _ = f.client.Close() }

// bareServer accepts WebSocket connections and writes every broadcast frame
// to each of them from a goroutine per connection: the least a gateway must
// do.
type bareServer struct {
	url    string
	server *http.Server
	mu     sync.Mutex
	queues []chan []byte
	wg     sync.WaitGroup
}

func startBareServer() (*bareServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &bareServer{url: "ws://" + ln.Addr().String() + "/ws"}
	b.server = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(b.serve)}
	go func() { _ = b.server.Serve(ln) }()
	return b, nil
}

func (b *bareServer) serve(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	queue := make(chan []byte, 16)
	b.mu.Lock()
	b.queues = append(b.queues, queue)
	b.mu.Unlock()
	b.wg.Add(1)
	defer b.wg.Done()
	// Reads (the subscribe) are discarded; they also answer pings.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		defer cancel()
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case frame, ok := <-queue:
			if !ok {
				_ = conn.Close(websocket.StatusGoingAway, "")
				return
			}
			if err := conn.Write(ctx, websocket.MessageText, frame); err != nil {
				return
			}
		}
	}
}

// broadcast queues frame for every connection (dropping it for one whose
// queue is full, which the clients' figures then show).
func (b *bareServer) broadcast(frame []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, q := range b.queues {
		select {
		case q <- frame:
		default:
		}
	}
}

func (b *bareServer) close() {
	b.mu.Lock()
	for _, q := range b.queues {
		close(q)
	}
	b.queues = nil
	b.mu.Unlock()
	b.wg.Wait()
	_ = b.server.Close()
}
