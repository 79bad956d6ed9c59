//go:build faults

package faults_test

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"tickcompact/internal/tools/testkit"
)

// sinkEnv configures a sink on the pipeline's output through SINK_* variables.
func (p *pipeline) sinkEnv(group, redisAddr, snapshotKey string) []string {
	return []string{
		"SINK_KAFKA_BROKERS=" + p.kafka.Brokers,
		"SINK_KAFKA_PROPERTIES_SESSION_TIMEOUT_MS=6000",
		"SINK_KAFKA_PROPERTIES_HEARTBEAT_INTERVAL_MS=500",
		"SINK_INPUT_TOPIC=" + p.output,
		"SINK_INPUT_GROUP=" + group,
		"SINK_REDIS_ADDR=" + redisAddr,
		"SINK_REDIS_SNAPSHOT_KEY=" + snapshotKey,
		"SINK_REDIS_TIMEOUT=1s",
		"SINK_HTTP_ADDR=127.0.0.1:0",
		"SINK_LOG_LEVEL=" + logLevel(),
	}
}

// The aggregator and the sink run with a real redis-server (append-only file,
// fsync always: what Redis acknowledged survives its crash) while trades flow
// live. The supervised sink is SIGKILLed five times and Redis is SIGKILLed and
// restarted twice. The sink commits again within 15 s of each restart, never
// exits on Redis's outages, and at the end verify finds the topics exact and
// the snapshot equal, per ISIN, to the latest expected record.
func TestFaultSinkAndRedisKilled(t *testing.T) {
	k := realKafka(t)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	p := newPipeline(t, k, 6, nil)
	redis := testkit.StartRedis(t, testkit.WithRedisPersistence())
	const snapshotKey = "trades:latest"
	agg := p.aggregator("aggregator", true, "")
	opts := liveOptions(rng)
	gen := startFeed(t, k, p.input, opts)
	if _, _, ok := p.progress().WaitBeyond(0, 30*time.Second); !ok {
		t.Fatal("the aggregator committed nothing within 30s")
	}
	// The output topic exists now.
	sinkGroup := testkit.UniqueName(t, "sink")
	sink := supervise(t, "sink", testkit.Binary(t, "sink"), p.sinkEnv(sinkGroup, redis.Addr, snapshotKey), true)
	sinkProbe := newProbe(t, k, sinkGroup, p.output, p.partitions)
	if _, _, ok := sinkProbe.WaitBeyond(0, 30*time.Second); !ok {
		t.Fatal("the sink committed nothing within 30s of its start")
	}

	faults := []string{"sink", "sink", "redis", "sink", "redis", "sink", "sink"}
	var sinkDelays, redisDelays []time.Duration
	for i, fault := range faults {
		time.Sleep(2*time.Second + time.Duration(rng.Int63n(int64(2*time.Second))))
		base, err := sinkProbe.Total()
		if err != nil {
			t.Fatal(err)
		}
		switch fault {
		case "sink":
			n := sink.Starts()
			killed := sink.Kill()
			restarted := sink.WaitStarts(n+1, 10*time.Second)
			at, total, ok := sinkProbe.WaitBeyond(base, restartToEmitBound+10*time.Second)
			d := at.Sub(restarted)
			sinkDelays = append(sinkDelays, d)
			t.Logf("fault %d: sink SIGKILLed, restarted %s later, committing again %s after the restart (%d -> %d)",
				i+1, secs(restarted.Sub(killed)), secs(d), base, total)
			if !ok || d > restartToEmitBound {
				t.Errorf("fault %d: the restarted sink committed again after %s; the contract says within %v", i+1, secs(d), restartToEmitBound)
			}
		case "redis":
			n := sink.Starts()
			down := 2*time.Second + time.Duration(rng.Int63n(int64(time.Second)))
			redis.Kill()
			time.Sleep(down)
			redis.Restart()
			back := time.Now()
			at, total, ok := sinkProbe.WaitBeyond(base, 30*time.Second)
			d := at.Sub(back)
			redisDelays = append(redisDelays, d)
			t.Logf("fault %d: Redis SIGKILLed, down %s; the sink committing again %s after Redis was back (%d -> %d)",
				i+1, secs(down), secs(d), base, total)
			if !ok {
				t.Errorf("fault %d: the sink did not commit within 30s of Redis's return", i+1)
			}
			if sink.Starts() != n {
				t.Errorf("fault %d: the sink exited while Redis was down: %v", i+1, sink.Exits())
			}
		}
	}

	time.Sleep(2 * time.Second)
	summary := gen.Stop()
	p.waitDrained(60 * time.Second)
	settle()
	if e, took := agg.Stop(15 * time.Second); e.code != 0 {
		t.Errorf("aggregator ended with %s after SIGTERM (took %s)", e, secs(took))
	}
	waitSinkCaughtUp(t, k, p, sinkProbe, 60*time.Second)
	rep := p.verify("--redis="+redis.Addr, "--snapshot-key="+snapshotKey)
	if rep.Redis == nil {
		t.Errorf("verify's report has no redis section")
	}
	if e, took := sink.Stop(15 * time.Second); e.code != 0 || took > 15*time.Second {
		t.Errorf("sink ended with %s %s after SIGTERM", e, secs(took))
	}
	fields := 0
	if rep.Redis != nil {
		fields = rep.Redis.Fields
	}
	t.Logf("RESULT records=%d (generator: %s) output=%d snapshot=%d ISINs faults=%d sink SIGKILLs + 2 Redis SIGKILLs violations=%d sink restart-to-commit: %s; after Redis restarts: %s",
		rep.Input.Records, summary, rep.Output.Records, fields, strings.Count(strings.Join(faults, " "), "sink"), rep.Violations.Total,
		durations(sinkDelays), durations(redisDelays))
}

// waitSinkCaughtUp waits until the sink group has committed, in every
// partition of the output, past the last record a read_committed reader sees.
func waitSinkCaughtUp(t *testing.T, k *testkit.Kafka, p *pipeline, probe *offsetProbe, timeout time.Duration) {
	t.Helper()
	out := k.ReadCommitted(t, p.output, -1, time.Second, 60*time.Second)
	last := make([]int64, p.partitions)
	for i := range last {
		last[i] = -1
	}
	for _, m := range out {
		last[m.TopicPartition.Partition] = max(last[m.TopicPartition.Partition], int64(m.TopicPartition.Offset))
	}
	deadline := time.Now().Add(timeout)
	for {
		per, err := probe.PerPartition()
		behind := []string{}
		if err != nil {
			behind = append(behind, err.Error())
		} else {
			for i, l := range last {
				if l >= 0 && per[i] <= l {
					behind = append(behind, fmt.Sprintf("partition %d at %d, last record %d", i, per[i], l))
				}
			}
		}
		if len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sink did not catch up with the output within %v: %s", timeout, strings.Join(behind, "; "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
