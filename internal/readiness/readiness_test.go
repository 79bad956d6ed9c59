package readiness

import (
	"sync"
	"testing"
)

func TestCheckReportsDependenciesBeforeProgress(t *testing.T) {
	s := New([]string{"hunter2"})
	kafka := s.Dependency("kafka", "not connected yet")
	redis := s.Dependency("redis", "not checked yet")
	partitions := s.Condition("partitions", "none assigned")
	started := s.Condition("consumer", "starting")

	want := func(step, reason string) {
		t.Helper()
		err := s.Check()
		switch {
		case reason == "" && err != nil:
			t.Errorf("%s: not ready (%v), want ready", step, err)
		case reason != "" && (err == nil || err.Error() != reason):
			t.Errorf("%s: %v, want %q", step, err, reason)
		}
	}
	want("at start", "kafka: not connected yet; redis: not checked yet")
	redis.Fail("ping failed: dial tcp 127.0.0.1:2: connection refused (password hunter2)")
	want("both down", "kafka: not connected yet; redis: ping failed: dial tcp 127.0.0.1:2: connection refused (password [REDACTED])")
	kafka.Met()
	redis.Met()
	want("dependencies up", "partitions: none assigned; consumer: starting")
	started.Met()
	partitions.Set(true, "none assigned")
	want("everything met", "")
	partitions.Set(false, "none assigned")
	kafka.Fail("")
	want("a dependency hides progress", "kafka: failing")
}

func TestConditionConcurrentUse(t *testing.T) {
	s := New(nil)
	c := s.Dependency("kafka", "down")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 1000 {
				if i%2 == 0 {
					c.Met()
				} else {
					c.Fail("down")
				}
				_ = s.Check()
			}
		})
	}
	wg.Wait()
}
