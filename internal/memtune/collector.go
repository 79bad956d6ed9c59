package memtune

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MallocCollector exports ReadMallocStats as gauges, next to the Go
// collector's go_memstats_*: with them /metrics tells which part of the
// process's resident memory is Go's, which is C memory in use (librdkafka's
// queues and buffers) and which is freed C memory glibc still holds.
//
// mallinfo2 walks every arena's free lists under the arena's lock, which
// takes milliseconds on a fragmented heap and stalls librdkafka's threads
// meanwhile: the figures are read at most once per mallocStatsMaxAge however
// often /metrics is scraped (a benchmark may poll it every 50 ms).
func MallocCollector() prometheus.Collector { return &mallocCollector{} }

const mallocStatsMaxAge = time.Second

type mallocCollector struct {
	mu     sync.Mutex
	readAt time.Time
	stats  MallocStats
}

func (c *mallocCollector) read() MallocStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.readAt) >= mallocStatsMaxAge {
		c.stats, c.readAt = ReadMallocStats(), now
	}
	return c.stats
}

var (
	mallocInUseDesc = prometheus.NewDesc("tickcompact_c_heap_in_use_bytes",
		"C heap (glibc malloc, librdkafka's memory) allocated and not freed.", nil, nil)
	mallocFreeDesc = prometheus.NewDesc("tickcompact_c_heap_free_bytes",
		"C heap freed but still held by glibc in its arenas.", nil, nil)
	mallocMmappedDesc = prometheus.NewDesc("tickcompact_c_heap_mmapped_bytes",
		"Part of the C heap in use held in blocks mmapped on their own.", nil, nil)
)

func (*mallocCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- mallocInUseDesc
	ch <- mallocFreeDesc
	ch <- mallocMmappedDesc
}

func (c *mallocCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.read()
	ch <- prometheus.MustNewConstMetric(mallocInUseDesc, prometheus.GaugeValue, float64(st.InUse))
	ch <- prometheus.MustNewConstMetric(mallocFreeDesc, prometheus.GaugeValue, float64(st.Free))
	ch <- prometheus.MustNewConstMetric(mallocMmappedDesc, prometheus.GaugeValue, float64(st.Mmapped))
}
