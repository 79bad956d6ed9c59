package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one read of a service's /metrics.
type Scrape struct {
	// At is when the response arrived.
	At       time.Time
	families map[string]*dto.MetricFamily
}

var scrapeClient = &http.Client{Timeout: 5 * time.Second}

// getOK sends a GET for url (with accept as its Accept header, if any) and
// returns the response when it is a 200; the caller closes its body.
func getOK(ctx context.Context, url, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("scraping %s: %s", url, resp.Status)
	}
	return resp, nil
}

// ScrapeMetrics reads and parses the Prometheus text exposition at url.
func ScrapeMetrics(ctx context.Context, url string) (Scrape, error) {
	resp, err := getOK(ctx, url, "text/plain")
	if err != nil {
		return Scrape{}, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return Scrape{}, fmt.Errorf("parsing %s: %w", url, err)
	}
	return Scrape{At: time.Now(), families: families}, nil
}

// Value returns the sum over all label sets of a counter or gauge, or NaN
// when the metric is missing.
func (s Scrape) Value(name string) float64 {
	f, ok := s.families[name]
	if !ok {
		return math.NaN()
	}
	sum := 0.0
	for _, m := range f.GetMetric() {
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum
}

// HistogramSince returns what the (unlabelled) histogram name observed
// between earlier and s: the observations of the interval the two scrapes
// bracket.
func (s Scrape) HistogramSince(earlier Scrape, name string) (Histogram, error) {
	before, err := earlier.Histogram(name)
	if err != nil {
		return Histogram{}, err
	}
	after, err := s.Histogram(name)
	if err != nil {
		return Histogram{}, err
	}
	return after.Sub(before)
}

// Histogram returns the (unlabelled) histogram name.
func (s Scrape) Histogram(name string) (Histogram, error) {
	f, ok := s.families[name]
	if !ok || len(f.GetMetric()) == 0 || f.GetMetric()[0].GetHistogram() == nil {
		return Histogram{}, fmt.Errorf("no histogram %s in the scrape", name)
	}
	h := f.GetMetric()[0].GetHistogram()
	out := Histogram{Count: float64(h.GetSampleCount()), Sum: h.GetSampleSum()}
	for _, b := range h.GetBucket() {
		out.Buckets = append(out.Buckets, Bucket{UpperBound: b.GetUpperBound(), Count: float64(b.GetCumulativeCount())})
	}
	if n := len(out.Buckets); n == 0 || !math.IsInf(out.Buckets[n-1].UpperBound, 1) {
		out.Buckets = append(out.Buckets, Bucket{UpperBound: math.Inf(1), Count: out.Count})
	}
	return out, nil
}
