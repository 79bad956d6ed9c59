package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// quoteFeed follows the sink's Pub/Sub channel: it counts the messages and
// keeps the most recently published instruments for the board.
type quoteFeed struct {
	pubsub *redis.PubSub

	mu       sync.Mutex
	received int64
	bad      int64
	// recent holds distinct instruments, the most recently published last.
	recent []Quote
	keep   int
}

// subscribeQuotes subscribes to channel and waits for Redis to confirm, so
// that no message published after it returns is missed.
func subscribeQuotes(ctx context.Context, client *redis.Client, channel string, keep int) (*quoteFeed, error) {
	pubsub := client.Subscribe(ctx, channel)
	if _, err := pubsub.Receive(ctx); err != nil {
		_ = pubsub.Close()
		return nil, fmt.Errorf("demo: subscribing to redis channel %s: %w", channel, err)
	}
	return &quoteFeed{pubsub: pubsub, keep: keep}, nil
}

// run reads messages until ctx is done, then closes the subscription.
func (f *quoteFeed) run(ctx context.Context) error {
	defer f.pubsub.Close()
	messages := f.pubsub.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-messages:
			if !ok {
				return nil
			}
			f.add(m.Payload)
		}
	}
}

// envelopeQuote is the part of the sink's envelope the board shows: the
// trade, and the window's interval aggregates, kept as the decimal text the
// aggregator wrote.
type envelopeQuote struct {
	Trade  tradeQuote  `json:"trade"`
	High   json.Number `json:"high"`
	Low    json.Number `json:"low"`
	Volume json.Number `json:"volume"`
}

// tradeQuote is the part of a trade the board shows.
type tradeQuote struct {
	ISIN      string `json:"isin"`
	Name      string `json:"name"`
	Price     int64  `json:"price"`
	PrevClose int64  `json:"prevClose"`
}

func (f *quoteFeed) add(payload string) {
	var e envelopeQuote
	err := json.Unmarshal([]byte(payload), &e)
	t := e.Trade
	f.mu.Lock()
	defer f.mu.Unlock()
	f.received++
	if err != nil || t.ISIN == "" {
		f.bad++
		return
	}
	q := Quote{ISIN: t.ISIN, Name: t.Name, Price: t.Price, PrevClose: t.PrevClose,
		High: string(e.High), Low: string(e.Low), Volume: string(e.Volume)}
	for i := range f.recent {
		if f.recent[i].ISIN == q.ISIN {
			f.recent = append(f.recent[:i], f.recent[i+1:]...)
			break
		}
	}
	f.recent = append(f.recent, q)
	if len(f.recent) > f.keep {
		f.recent = f.recent[len(f.recent)-f.keep:]
	}
}

// read returns the message count so far and the recent instruments, newest
// first.
func (f *quoteFeed) read() (received int64, latest []Quote) {
	f.mu.Lock()
	defer f.mu.Unlock()
	latest = make([]Quote, len(f.recent))
	for i, q := range f.recent {
		latest[len(f.recent)-1-i] = q
	}
	return f.received, latest
}
