package aggregator

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

const (
	samsung = "KR7005930003"
	hynix   = "KR7000660001"
)

// Two partitions, a window each: a record past the window's end closes it,
// and the output, the checkpoints and nothing else are committed together.
func TestWindowStageEmitsClosedWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newStageHarness(t)
		base := time.Now().Truncate(2 * time.Second).Add(-time.Minute)
		h.consumer.Append("in", 0, tradeRecord(samsung, base.Add(100*time.Millisecond), "a"), tradeRecord(samsung, base.Add(900*time.Millisecond), "b"),
			tradeRecord(samsung, base.Add(2100*time.Millisecond), "next0"))
		h.consumer.Append("in", 1, tradeRecord(hynix, base.Add(500*time.Millisecond), "h"), tradeRecord(hynix, base.Add(2500*time.Millisecond), "next1"))
		ws := h.windowStage()
		stop := h.run(ws.run)
		h.consumer.Assign("in", 0, 1)
		time.Sleep(500 * time.Millisecond) // less than the idle timeout
		if got := names(h.producer.output("out")); !slices.Equal(got, []string{"b", "h"}) {
			t.Fatalf("output %v, want the latest of each closed window: [b h]", got)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		// Stop committed the checkpoints; the next windows stay open.
		committed, _ := h.consumer.Committed(ws.held(), 0)
		if len(committed) != 0 {
			t.Fatalf("partitions still held after stop: %v", committed)
		}
		for p, want := range map[int32]int64{0: 2, 1: 1} {
			c, _ := h.consumer.Committed(list("in", p), 0)
			if int64(c[0].Offset) != want || c[0].Metadata == nil {
				t.Fatalf("partition %d committed at %v, want %d with a checkpoint", p, c[0].Offset, want)
			}
		}
	})
}

// A revocation that arrives while a transaction commits waits for it, then
// commits the revoked partition's checkpoint before it is unassigned: its
// next owner, restored from there, emits nothing twice and loses nothing.
func TestWindowStageRevokedDuringCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newStageHarness(t)
		base := time.Now().Truncate(2 * time.Second).Add(-time.Minute)
		h.consumer.Append("in", 0, tradeRecord(samsung, base, "a"), tradeRecord(samsung, base.Add(2100*time.Millisecond), "b"))
		h.producer.commitDelay = 3 * time.Second
		h.producer.committing = make(chan struct{})
		ws := h.windowStage()
		stop := h.run(ws.run)
		h.consumer.Assign("in", 0)
		<-h.producer.committing
		h.consumer.Revoke("in", false, 0)
		h.consumer.Append("in", 0, tradeRecord(samsung, base.Add(4100*time.Millisecond), "c"))
		time.Sleep(10 * time.Second)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if got := names(h.producer.output("out")); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("first owner's output %v, want [a]", got)
		}
		c, _ := h.consumer.Committed(list("in", 0), 0)
		if c[0].Offset != 1 {
			t.Fatalf("revoked partition committed at %v, want 1 (record b's window still open)", c[0].Offset)
		}

		// The next owner resumes there: b's window closes with c, once.
		h.consumer.Reopen()
		next := h.windowStage()
		stop = h.run(next.run)
		h.consumer.Assign("in", 0)
		time.Sleep(time.Second)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if got := names(h.producer.output("out")); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("output %v, want [a b]", got)
		}
	})
}

// A transaction that must abort (a record it produced failed) is aborted,
// every partition rewound to what is committed, and its records produced
// again: the output is the same, once.
func TestWindowStageAbortAndRewind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newStageHarness(t)
		base := time.Now().Truncate(2 * time.Second).Add(-time.Minute)
		h.consumer.Append("in", 0, tradeRecord(samsung, base, "a"), tradeRecord(samsung, base.Add(2100*time.Millisecond), "b"),
			tradeRecord(samsung, base.Add(4100*time.Millisecond), "c"))
		h.consumer.Append("in", 1, tradeRecord(hynix, base, "h"), tradeRecord(hynix, base.Add(2100*time.Millisecond), "i"))
		h.producer.failProduce = `{"isin":"` + samsung + `","name":"b"}`
		ws := h.windowStage()
		stop := h.run(ws.run)
		h.consumer.Assign("in", 0, 1)
		time.Sleep(time.Second)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if got := names(h.producer.output("out")); !slices.Equal(got, []string{"a", "b", "h"}) {
			t.Fatalf("output %v, want [a b h] once each", got)
		}
		if h.producer.aborts != 1 || h.consumer.Seeks() != 1 {
			t.Fatalf("%d aborts, %d seeks; want 1 and 1", h.producer.aborts, h.consumer.Seeks())
		}
	})
}

// A lost partition's open transaction is aborted, since another member may
// own the partition already; the partitions kept are rewound and their
// output emitted once.
func TestWindowStageLostAssignment(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newStageHarness(t)
		base := time.Now().Truncate(2 * time.Second).Add(-time.Minute)
		h.consumer.Append("in", 0, tradeRecord(samsung, base, "a"), tradeRecord(samsung, base.Add(2100*time.Millisecond), "b"),
			tradeRecord(samsung, base.Add(4100*time.Millisecond), "c"))
		h.consumer.Append("in", 1, tradeRecord(hynix, base, "h"), tradeRecord(hynix, base.Add(2100*time.Millisecond), "i"))
		// Records come a, h, b, i, c: the transaction holds a's and h's
		// windows when partition 0 is lost, just before c.
		h.consumer.BeforeRecord(func(_ string, p int32, offset int64) bool {
			if p == 0 && offset == 2 {
				h.consumer.Revoke("in", true, 0)
				return true
			}
			return false
		})
		ws := h.windowStage()
		stop := h.run(ws.run)
		h.consumer.Assign("in", 0, 1)
		time.Sleep(500 * time.Millisecond)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if got := names(h.producer.output("out")); !slices.Equal(got, []string{"h"}) {
			t.Fatalf("output %v, want only the kept partition's [h], once", got)
		}
		if h.producer.aborts != 1 {
			t.Fatalf("%d aborts, want the transaction holding the lost partition's window aborted", h.producer.aborts)
		}
	})
}

// Shutdown is bounded: a final commit the broker does not answer is given
// the Loop's shutdown timeout, and the stage stops without committing.
func TestWindowStageShutdownWithinItsBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newStageHarness(t)
		base := time.Now().Truncate(2 * time.Second).Add(-time.Minute)
		h.consumer.Append("in", 0, tradeRecord(samsung, base, "a"), tradeRecord(samsung, base.Add(2100*time.Millisecond), "b"))
		h.producer.commitDelay = time.Hour
		ws := h.windowStage()
		ws.cfg.Output.CommitInterval = time.Hour
		stop := h.run(ws.run)
		h.consumer.Assign("in", 0)
		synctest.Wait()
		began := time.Now()
		err := stop()
		if took := time.Since(began); took > 11*time.Second {
			t.Fatalf("stopped after %v, want within the 10 s shutdown timeout and a poll", took)
		}
		if err != nil {
			t.Fatalf("stop: %v (a final commit that could not complete is aborted, for the next owner to replay)", err)
		}
		if got := h.producer.output("out"); len(got) != 0 || h.producer.aborts != 1 {
			t.Fatalf("output committed %v, %d aborts; want nothing, and the transaction aborted", names(got), h.producer.aborts)
		}
	})
}
