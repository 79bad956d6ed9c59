package demo

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"tickcompact/internal/tools/emission"
)

// refreshOffset is how long after a window's end the board refreshes, so the
// window's output (committed within milliseconds of its end) is counted in
// the refresh that names it.
const refreshOffset = 500 * time.Millisecond

// monitor refreshes the board once per window from the aggregator's /metrics,
// the Redis snapshot hash and the quote feed.
type monitor struct {
	board             *Board
	http              *http.Client
	aggregatorMetrics string
	redis             *redis.Client
	feed              *quoteFeed
	delays            *delayLog
	notes             *recentLines
	started           time.Time
	// windows stops the demo (through done) after that many refreshes; 0
	// never.
	windows int
	done    func()

	mu       sync.Mutex
	previous pipelineReading
	redisAt  int64 // messages received at the previous refresh
	at       time.Time
	shown    int
	last     Sample
}

// run refreshes the board until ctx is done.
func (m *monitor) run(ctx context.Context) error {
	m.mu.Lock()
	m.at = m.started
	m.last.SnapshotSize = -1
	m.mu.Unlock()
	timer := time.NewTimer(time.Until(nextRefresh(time.Now())))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		sample := m.sample(ctx, time.Now())
		if ctx.Err() != nil {
			return nil
		}
		if err := m.board.Draw(sample); err != nil {
			return err
		}
		m.mu.Lock()
		m.shown++
		shown := m.shown
		m.mu.Unlock()
		if m.windows > 0 && shown >= m.windows {
			m.done()
			return nil
		}
		timer.Reset(time.Until(nextRefresh(time.Now())))
	}
}

// nextRefresh returns the first refresh time after now: a window end (epoch
// aligned) plus refreshOffset.
func nextRefresh(now time.Time) time.Time {
	size := WindowSize.Milliseconds()
	end := (now.Add(-refreshOffset).UnixMilli()/size + 1) * size
	return time.UnixMilli(end).Add(refreshOffset)
}

// sample reads everything the board shows at now.
func (m *monitor) sample(ctx context.Context, now time.Time) Sample {
	scrapeCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	m.mu.Lock()
	previous, redisAt, at := m.previous, m.redisAt, m.at
	m.mu.Unlock()

	current := previous
	if families, err := scrape(scrapeCtx, m.http, m.aggregatorMetrics); err == nil {
		current = readPipeline(families)
	}
	snapshot := int64(-1)
	if n, err := m.redis.HLen(scrapeCtx, SnapshotKey).Result(); err == nil {
		snapshot = n
	}
	received, latest := m.feed.read()

	windowEnd := time.UnixMilli(now.Add(-refreshOffset).UnixMilli() / WindowSize.Milliseconds() * WindowSize.Milliseconds())
	s := Sample{
		WindowStart:   windowEnd.Add(-WindowSize),
		WindowEnd:     windowEnd,
		Elapsed:       now.Sub(at),
		Uptime:        now.Sub(m.started),
		TradesIn:      current.tradesIn - previous.tradesIn,
		TotalIn:       current.tradesIn,
		RecordsOut:    current.emitted - previous.emitted,
		TotalOut:      current.emitted,
		Delay:         delaysOf(m.delays.take()),
		DLQIn:         sumOf(current.dlq) - sumOf(previous.dlq),
		DLQ:           current.dlq,
		Late:          current.late,
		RedisMessages: received - redisAt,
		RedisTotal:    received,
		SnapshotSize:  snapshot,
		Latest:        latest,
		Notes:         m.notes.lines(),
	}
	m.mu.Lock()
	m.previous, m.redisAt, m.at, m.last = current, received, now, s
	m.mu.Unlock()
	return s
}

func sumOf(byReason map[string]int64) int64 {
	var n int64
	for _, v := range byReason {
		n += v
	}
	return n
}

// delayLog collects the emission delays the board's trades-2s reader
// measures, until the next refresh takes them.
type delayLog struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (d *delayLog) add(s emission.Sample) {
	d.mu.Lock()
	d.delays = append(d.delays, s.Delay)
	d.mu.Unlock()
}

// take returns the delays collected since the last take.
func (d *delayLog) take() []time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.delays
	d.delays = nil
	return out
}

// lastSample returns the last sample shown (zero before the first).
func (m *monitor) lastSample() Sample {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// refreshes returns how many times the board was drawn.
func (m *monitor) refreshes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.shown
}

// recentLines is an io.Writer that keeps the last few lines written to it:
// the services' log, shown on the terminal board instead of tearing it.
type recentLines struct {
	mu      sync.Mutex
	keep    int
	partial []byte
	kept    []string
}

func newRecentLines(keep int) *recentLines { return &recentLines{keep: keep} }

// Write implements io.Writer.
func (r *recentLines) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.partial = append(r.partial, p...)
	for {
		i := bytes.IndexByte(r.partial, '\n')
		if i < 0 {
			break
		}
		line := string(r.partial[:i])
		r.partial = r.partial[i+1:]
		// The time stamp is noise on a board refreshed every two seconds.
		if strings.HasPrefix(line, "time=") {
			if _, rest, ok := strings.Cut(line, " "); ok {
				line = rest
			}
		}
		r.kept = append(r.kept, line)
		if len(r.kept) > r.keep {
			r.kept = r.kept[len(r.kept)-r.keep:]
		}
	}
	return len(p), nil
}

// lines returns the kept lines, oldest first; nil on a nil receiver.
func (r *recentLines) lines() []string {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.kept...)
}
