package bench

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"tickcompact/internal/tools/emission"
)

// Bucket is one cumulative histogram bucket: Count observations were <= UpperBound.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// Histogram is a Prometheus histogram as scraped: cumulative buckets, the
// last one +Inf, plus the observation count and sum.
type Histogram struct {
	Buckets []Bucket
	Count   float64
	Sum     float64
}

// Sub returns the observations made between earlier and h: two scrapes of
// the same histogram, so that what earlier already held (the warm-up) is
// left out.
func (h Histogram) Sub(earlier Histogram) (Histogram, error) {
	if len(earlier.Buckets) == 0 {
		return h, nil
	}
	if len(earlier.Buckets) != len(h.Buckets) {
		return Histogram{}, fmt.Errorf("histograms have %d and %d buckets", len(h.Buckets), len(earlier.Buckets))
	}
	out := Histogram{Count: h.Count - earlier.Count, Sum: h.Sum - earlier.Sum, Buckets: make([]Bucket, len(h.Buckets))}
	for i, b := range h.Buckets {
		if b.UpperBound != earlier.Buckets[i].UpperBound {
			return Histogram{}, errors.New("histograms have different bucket bounds")
		}
		out.Buckets[i] = Bucket{UpperBound: b.UpperBound, Count: b.Count - earlier.Buckets[i].Count}
	}
	return out, nil
}

// Quantile estimates the q-quantile (0 <= q <= 1) the way Prometheus'
// histogram_quantile does: find the bucket holding the rank q*count and
// interpolate linearly within it, the first bucket starting at 0; a rank in
// the +Inf bucket gives the highest finite bound. It returns NaN for an
// empty histogram or one without a +Inf bucket.
func (h Histogram) Quantile(q float64) float64 {
	switch {
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(1)
	}
	buckets := append([]Bucket(nil), h.Buckets...)
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].UpperBound < buckets[j].UpperBound })
	if len(buckets) < 2 || !math.IsInf(buckets[len(buckets)-1].UpperBound, 1) {
		return math.NaN()
	}
	// Counts scraped at slightly different moments can dip; Prometheus
	// forces them monotonic the same way.
	for i := 1; i < len(buckets); i++ {
		buckets[i].Count = max(buckets[i].Count, buckets[i-1].Count)
	}
	total := buckets[len(buckets)-1].Count
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	b := sort.Search(len(buckets)-1, func(i int) bool { return buckets[i].Count >= rank })
	if b == len(buckets)-1 {
		return buckets[len(buckets)-2].UpperBound
	}
	if b == 0 && buckets[0].UpperBound <= 0 {
		return buckets[0].UpperBound
	}
	start, end, count := 0.0, buckets[b].UpperBound, buckets[b].Count
	if b > 0 {
		start = buckets[b-1].UpperBound
		count -= buckets[b-1].Count
		rank -= buckets[b-1].Count
	}
	if count == 0 {
		return end
	}
	return start + (end-start)*(rank/count)
}

// SampleQuantile returns the q-quantile of samples by the nearest-rank
// method (sorting samples in place), or NaN when there are none.
func SampleQuantile(samples []float64, q float64) float64 {
	v, ok := emission.Quantile(samples, q)
	if !ok {
		return math.NaN()
	}
	return v
}
