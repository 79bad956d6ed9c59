package gateway

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tickcompact/internal/tools/testkit"
)

// TestSnapshotThenUpdates: a subscriber first gets the snapshot of its
// ISINs, then only their updates; changing the set sends the snapshot of
// what it was not sent yet, and nothing of ISINs it left.
func TestSnapshotThenUpdates(t *testing.T) {
	r := testkit.StartRedis(t)
	f := newFeed(t, r)
	ids := isins(6)
	f.write(1, ids...)
	g := startGateway(t, r, nil)

	c := dial(t, g.url(), nil)
	c.send(fmt.Sprintf(`{"type":"subscribe","isins":[%q,%q,%q,%q]}`, ids[2], ids[0], ids[1], ids[0]))
	snap := c.expect("snapshot")
	if snap.All || len(snap.ISINs) != 3 || snap.ISINs[0] != ids[0] {
		t.Fatalf("snapshot echoes the subscription sorted and merged: %s", snap.Raw)
	}
	want := map[string]int64{ids[0]: windowEnd(1), ids[1]: windowEnd(1), ids[2]: windowEnd(1)}
	if got := ends(snap.Items); !maps.Equal(got, want) {
		t.Fatalf("snapshot items %v, want %v", got, want)
	}
	for _, it := range snap.Items {
		if it.WindowStart != windowEnd(1)-2000 || it.TradeCount != 1 || !strings.Contains(string(it.Trade), `"price":70001`) {
			t.Fatalf("snapshot item %+v", it)
		}
	}

	f.write(2, ids...)
	got := map[string]int64{}
	for len(got) < 3 {
		for _, it := range c.expect("updates").Items {
			if it.WindowEnd <= got[it.ISIN] {
				t.Fatalf("%s: window %d after %d", it.ISIN, it.WindowEnd, got[it.ISIN])
			}
			got[it.ISIN] = it.WindowEnd
		}
	}
	if want := map[string]int64{ids[0]: windowEnd(2), ids[1]: windowEnd(2), ids[2]: windowEnd(2)}; !maps.Equal(got, want) {
		t.Fatalf("updates %v, want only the subscribed ISINs' window 2: %v", got, want)
	}

	// A new set: ids[1] was sent window 2 already, ids[4] is new to it.
	c.send(fmt.Sprintf(`{"type":"subscribe","isins":[%q,%q]}`, ids[1], ids[4]))
	snap = c.expect("snapshot")
	if got := ends(snap.Items); !maps.Equal(got, map[string]int64{ids[4]: windowEnd(2)}) {
		t.Fatalf("second snapshot %v: want only ids[4], ids[1] was already sent", got)
	}
	f.write(3, ids...)
	got = map[string]int64{}
	for len(got) < 2 {
		for _, it := range c.expect("updates").Items {
			got[it.ISIN] = it.WindowEnd
		}
	}
	if want := map[string]int64{ids[1]: windowEnd(3), ids[4]: windowEnd(3)}; !maps.Equal(got, want) {
		t.Fatalf("updates after resubscribing %v, want %v", got, want)
	}

	// All: the snapshot holds every ISIN this client does not have yet.
	c.send(`{"type":"subscribe","all":true}`)
	snap = c.expect("snapshot")
	if !snap.All || len(snap.Items) != 4 {
		t.Fatalf("snapshot of all: %s", clipBytes(snap.Raw))
	}
	for _, it := range snap.Items {
		if it.WindowEnd != windowEnd(3) || it.ISIN == ids[1] || it.ISIN == ids[4] {
			t.Fatalf("snapshot of all holds %+v", it)
		}
	}
	if n := g.metric("tickcompact_gateway_instruments"); n != 6 {
		t.Errorf("instruments = %v, want 6", n)
	}
}

// TestNeverBackwards: whatever Redis delivers (an older envelope published
// by hand, bypassing the sink's guard), no client is sent a window end not
// newer than the last one it got for that ISIN.
func TestNeverBackwards(t *testing.T) {
	r := testkit.StartRedis(t)
	f := newFeed(t, r)
	ids := isins(2)
	f.write(5, ids...)
	g := startGateway(t, r, nil)
	c := dial(t, g.url(), nil)
	c.send(`{"type":"subscribe","all":true}`)
	if got := ends(c.expect("snapshot").Items); len(got) != 2 {
		t.Fatalf("snapshot %v", got)
	}

	rc := r.Client()
	ctx := context.Background()
	// Older and equal windows, then a newer one as a marker.
	for _, w := range []int{3, 5, 4} {
		if err := rc.Publish(ctx, "trades:2s", f.envelopeOf(ids[0], w)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rc.Publish(ctx, "trades:2s", f.envelopeOf(ids[1], 6)).Err(); err != nil {
		t.Fatal(err)
	}
	m := c.expect("updates")
	if got := ends(m.Items); !maps.Equal(got, map[string]int64{ids[1]: windowEnd(6)}) {
		t.Fatalf("updates %v: only the marker is newer than what was sent", got)
	}
	// A snapshot that went back (Redis restarted without the latest data)
	// sends nothing older either.
	r.Restart()
	f.write(4, ids...)
	waitFor(t, 20*time.Second, "a resync after the restart", func() bool {
		return g.metric("tickcompact_gateway_redis_resyncs_total") >= 2
	})
	f.write(7, ids[0])
	if got := ends(c.expect("updates").Items); !maps.Equal(got, map[string]int64{ids[0]: windowEnd(7)}) {
		t.Fatalf("after the restart got %v, want only window 7", got)
	}
}

// TestSlowClientConflatedThenDisconnected: a client that stops reading
// costs at most one pending update per ISIN (the newest), whether it follows
// a list or all ISINs, and is closed with 4008 once its updates waited
// longer than max_lag; a client that keeps up is unaffected.
func TestSlowClientConflatedThenDisconnected(t *testing.T) {
	ids := isins(20)
	list := `{"type":"subscribe","isins":["` + strings.Join(ids, `","`) + `"]}`
	for _, tc := range []struct{ name, subscribe string }{
		{"list", list},
		{"all", `{"type":"subscribe","all":true}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testkit.StartRedis(t)
			f := newFeed(t, r)
			f.padding = strings.Repeat("x", 64<<10) // large frames fill the socket buffers quickly
			f.write(1, ids...)
			g := startGateway(t, r, func(c *Config) {
				c.WebSocket.MaxLag = 3 * time.Second
				// The lag limit is what this test is about: a client that
				// does not read does not answer pings or take writes either.
				c.WebSocket.WriteTimeout = 30 * time.Minute
				c.WebSocket.PingInterval = 30 * time.Minute
			})
			slow := dial(t, g.url(), nil)
			slow.send(tc.subscribe)
			slow.expect("snapshot")
			fast := dial(t, g.url(), nil)
			fast.send(tc.subscribe)
			fast.expect("snapshot")

			// The slow client reads nothing while 20 windows go by (25 MB,
			// beyond the socket buffers); the fast one keeps up.
			const windows = 21
			lastFast := map[string]int64{}
			for w := 2; w <= windows; w++ {
				f.write(w, ids...)
				for countAt(lastFast, windowEnd(w)) < len(ids) {
					for _, it := range fast.expect("updates").Items {
						lastFast[it.ISIN] = it.WindowEnd
					}
				}
			}
			time.Sleep(3500 * time.Millisecond) // what waits is now older than max_lag
			f.write(windows+1, ids...)

			// Reading again: what was written arrives in order, then the
			// close with the reason.
			last := map[string]int64{}
			updates := 0
			var code websocket.StatusCode
			var reason string
			for {
				m, err := slow.read(30 * time.Second)
				if err != nil {
					code, reason = websocket.CloseStatus(err), err.Error()
					break
				}
				for _, it := range m.Items {
					if it.WindowEnd <= last[it.ISIN] {
						t.Fatalf("%s went back from %d to %d", it.ISIN, last[it.ISIN], it.WindowEnd)
					}
					last[it.ISIN] = it.WindowEnd
					updates++
				}
			}
			if code != CloseSlowClient || !strings.Contains(reason, "slow client") {
				t.Fatalf("closed with %d %q, want %d slow client", code, reason, CloseSlowClient)
			}
			if updates >= (windows-1)*len(ids) {
				t.Fatalf("the slow client got %d updates of %d windows: nothing was conflated", updates, windows-1)
			}
			waitFor(t, 5*time.Second, "the disconnect counted", func() bool {
				return g.metric(`tickcompact_gateway_slow_clients_disconnected_total{reason="lag"}`) == 1
			})
			if n := g.metric("tickcompact_gateway_updates_conflated_total"); n == 0 {
				t.Fatal("no update counted as conflated")
			}
			t.Logf("the slow client received %d updates of %d windows before the close: %q", updates, windows-1, reason)

			// The fast client is unaffected.
			f.write(windows+2, ids[0])
			for lastFast[ids[0]] < windowEnd(windows+2) {
				for _, it := range fast.expect("updates").Items {
					lastFast[it.ISIN] = it.WindowEnd
				}
			}
		})
	}
}

// TestRedisRestartResync: Redis restarts mid-stream, losing what was
// published while the gateway was away; after reconnecting the gateway
// reads the snapshot and every client gets the newest window.
func TestRedisRestartResync(t *testing.T) {
	r := testkit.StartRedis(t)
	f := newFeed(t, r)
	ids := isins(30)
	f.write(1, ids...)
	g := startGateway(t, r, nil)
	clients := []*wsClient{dial(t, g.url(), nil), dial(t, g.url(), nil)}
	clients[0].send(`{"type":"subscribe","all":true}`)
	clients[1].send(fmt.Sprintf(`{"type":"subscribe","isins":[%q,%q]}`, ids[3], ids[7]))
	for _, c := range clients {
		c.expect("snapshot")
	}

	r.Kill()
	testkit.WaitReadyz(t, g.svc.HTTPAddr(), http.StatusServiceUnavailable, "redis", 20*time.Second)
	r.Restart()
	// Written while the gateway reconnects (it retries with backoff): some
	// or all of it is published before it has subscribed again.
	for w := 2; w <= 4; w++ {
		f.write(w, ids...)
	}
	testkit.WaitReadyz(t, g.svc.HTTPAddr(), http.StatusOK, "", 20*time.Second)

	for i, c := range clients {
		want := len(ids)
		if i == 1 {
			want = 2
		}
		last := map[string]int64{}
		for len(last) < want || countAt(last, windowEnd(4)) < want {
			for _, it := range c.expect("updates").Items {
				if it.WindowEnd <= last[it.ISIN] {
					t.Fatalf("client %d: %s went back", i, it.ISIN)
				}
				last[it.ISIN] = it.WindowEnd
			}
		}
		if len(last) != want {
			t.Fatalf("client %d got %d ISINs, want %d", i, len(last), want)
		}
	}
	if n := g.metric("tickcompact_gateway_redis_resyncs_total"); n < 2 {
		t.Fatalf("resyncs = %v, want at least 2", n)
	}
}

func countAt(last map[string]int64, end int64) int {
	n := 0
	for _, e := range last {
		if e == end {
			n++
		}
	}
	return n
}

// TestLimits: connections, ISINs per subscription, inbound message size,
// origins and bad requests are refused clearly, and a client that does not
// answer pings is closed.
func TestLimits(t *testing.T) {
	r := testkit.StartRedis(t)
	f := newFeed(t, r)
	ids := isins(5)
	f.write(1, ids...)
	g := startGateway(t, r, func(c *Config) {
		c.WebSocket.MaxConnections = 2
		c.WebSocket.MaxISINs = 3
		c.WebSocket.MaxMessageBytes = 512
		c.WebSocket.AllowedOrigins = []string{"app.example.com"}
	})

	t.Run("bad requests", func(t *testing.T) {
		c := dial(t, g.url(), nil)
		for _, tc := range []struct{ request, want string }{
			{`{"type":"subscribe","isins":["a","b","c","d"]}`, "limit is 3"},
			{`{"type":"subscribe","isins":["KR7005930004"]}`, "not a valid ISIN"},
			{`{"type":"subscribe","all":true,"isins":["KR7005930003"]}`, "not both"},
			{`{"type":"unsubscribe"}`, "unknown type"},
			{`{"type":"subscribe","isin":["KR7005930003"]}`, "unknown field"},
			{`not json`, "not a JSON object"},
		} {
			c.send(tc.request)
			if m := c.expect("error"); !strings.Contains(m.Error, tc.want) {
				t.Errorf("%s: error %q, want it to say %q", tc.request, m.Error, tc.want)
			}
		}
		// The subscription is unchanged (none): a valid one still works.
		c.send(fmt.Sprintf(`{"type":"subscribe","isins":[%q]}`, ids[0]))
		if got := ends(c.expect("snapshot").Items); len(got) != 1 {
			t.Fatalf("snapshot %v", got)
		}
		if n := g.metric("tickcompact_gateway_bad_requests_total"); n != 6 {
			t.Errorf("bad_requests_total = %v, want 6", n)
		}
	})
	waitFor(t, 5*time.Second, "the connection released", func() bool { return g.metric("tickcompact_gateway_connections") == 0 })

	t.Run("message too big", func(t *testing.T) {
		c := dial(t, g.url(), nil)
		c.send(`{"type":"subscribe","isins":["` + strings.Repeat("A", 600) + `"]}`)
		if code, reason := c.closeStatus(10 * time.Second); code != websocket.StatusMessageTooBig {
			t.Fatalf("closed with %d %q, want 1009", code, reason)
		}
	})
	waitFor(t, 5*time.Second, "the connection released", func() bool { return g.metric("tickcompact_gateway_connections") == 0 })

	t.Run("max connections", func(t *testing.T) {
		a, b := dial(t, g.url(), nil), dial(t, g.url(), nil)
		waitFor(t, 5*time.Second, "two connections", func() bool { return g.metric("tickcompact_gateway_connections") == 2 })
		third := dial(t, g.url(), nil)
		if code, reason := third.closeStatus(10 * time.Second); code != websocket.StatusTryAgainLater || !strings.Contains(reason, "too many connections") {
			t.Fatalf("third connection closed with %d %q, want 1013", code, reason)
		}
		_ = a.conn.Close(websocket.StatusNormalClosure, "")
		_ = b.conn.Close(websocket.StatusNormalClosure, "")
	})
	waitFor(t, 5*time.Second, "the connections released", func() bool { return g.metric("tickcompact_gateway_connections") == 0 })

	t.Run("origins", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, resp, err := websocket.Dial(ctx, g.url(), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example.org"}}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("a foreign origin: err %v, response %v; want 403", err, resp)
		}
		c := dial(t, g.url(), http.Header{"Origin": {"https://app.example.com"}})
		c.send(`{"type":"subscribe","all":true}`)
		c.expect("snapshot")
	})
}

// TestPingTimeout: a client that never reads does not answer pings and is
// closed with 4009.
func TestPingTimeout(t *testing.T) {
	r := testkit.StartRedis(t)
	g := startGateway(t, r, func(c *Config) { c.WebSocket.PingInterval = 200 * time.Millisecond })
	c := dial(t, g.url(), nil)
	waitFor(t, 10*time.Second, "the ping timeout", func() bool { return g.metric("tickcompact_gateway_ping_timeouts_total") == 1 })
	// Reading now answers the queued pings too late: the close is there.
	if code, reason := c.closeStatus(10 * time.Second); code != CloseNoPong {
		t.Fatalf("closed with %d %q, want %d", code, reason, CloseNoPong)
	}
}

// TestRawSnapshotSaidAtStartUp: a snapshot of raw trades (a sink with
// redis.format raw) is reported clearly and not served.
func TestRawSnapshotSaidAtStartUp(t *testing.T) {
	r := testkit.StartRedis(t)
	if err := r.Client().HSet(context.Background(), "trades:latest", "KR7005930003", `{"isin":"KR7005930003","price":71500}`).Err(); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, r, nil)
	waitFor(t, 5*time.Second, "the raw value counted", func() bool {
		return g.metric(`tickcompact_gateway_not_envelope_values_total{source="snapshot"}`) == 1
	})
	if logs := g.logs.String(); !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "redis.format: envelope") {
		t.Fatalf("no clear start-up error about raw values:\n%s", logs)
	}
	c := dial(t, g.url(), nil)
	c.send(`{"type":"subscribe","all":true}`)
	if m := c.expect("snapshot"); len(m.Items) != 0 {
		t.Fatalf("a raw value was served: %s", m.Raw)
	}
}

// TestShutdownClosesClients: stopping the gateway closes every connection
// with 1001 (going away).
func TestShutdownClosesClients(t *testing.T) {
	r := testkit.StartRedis(t)
	g := startGateway(t, r, nil)
	c := dial(t, g.url(), nil)
	c.send(`{"type":"subscribe","all":true}`)
	c.expect("snapshot")
	g.stop()
	if code, reason := c.closeStatus(10 * time.Second); code != websocket.StatusGoingAway {
		t.Fatalf("closed with %d %q, want 1001", code, reason)
	}
}

// TestPage: the page and its assets are served.
func TestPage(t *testing.T) {
	r := testkit.StartRedis(t)
	g := startGateway(t, r, nil)
	for _, path := range []string{"/", "/app.js", "/style.css"} {
		resp, err := http.Get("http://" + g.svc.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(resp)
		if resp.StatusCode != http.StatusOK || body == "" {
			t.Fatalf("GET %s: %d %q", path, resp.StatusCode, clipBytes([]byte(body)))
		}
	}
}

// TestPerInstrumentChannels: with {isin} in redis.channel (one channel per
// instrument), the gateway follows every instrument's channel.
func TestPerInstrumentChannels(t *testing.T) {
	r := testkit.StartRedis(t, testkit.WithRedisUser("gateway", "gw-Pw-1234"))
	f := newFeedOn(t, r, "ticks:{isin}:2s")
	ids := isins(3)
	g := startGateway(t, r, func(c *Config) { c.Redis.Channel = "ticks:{isin}:2s" })
	c := dial(t, g.url(), nil)
	c.send(`{"type":"subscribe","all":true}`)
	c.expect("snapshot")
	f.write(1, ids...)
	got := map[string]int64{}
	for len(got) < len(ids) {
		for _, it := range c.expect("updates").Items {
			got[it.ISIN] = it.WindowEnd
		}
	}
}
