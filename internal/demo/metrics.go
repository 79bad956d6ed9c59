package demo

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric names the board reads from the services' /metrics endpoints.
const (
	metricConsumed      = "tickcompact_aggregator_records_consumed_total"
	metricReplayed      = "tickcompact_aggregator_records_replayed_total"
	metricEmitted       = "tickcompact_aggregator_records_emitted_total"
	metricLate          = "tickcompact_aggregator_late_records_total"
	metricDLQ           = "tickcompact_aggregator_dlq_records_total"
	metricEmissionDelay = "tickcompact_aggregator_emission_delay_seconds"
)

// pipelineReading is one scrape of the aggregator's counters.
type pipelineReading struct {
	// tradesIn is records consumed minus records replayed: each input record
	// counted once even when a rebalance makes the aggregator read it again.
	tradesIn int64
	emitted  int64
	late     int64
	dlq      map[string]int64
	delay    histogram
}

// scrape fetches url (a Prometheus text endpoint) and parses it.
func scrape(ctx context.Context, client *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// Ask for the text format: the parser below reads only that.
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("demo: scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("demo: scraping %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("demo: parsing %s: %w", url, err)
	}
	return families, nil
}

// readPipeline extracts the board's aggregator counters from a scrape.
func readPipeline(families map[string]*dto.MetricFamily) pipelineReading {
	return pipelineReading{
		tradesIn: int64(sum(families[metricConsumed]) - sum(families[metricReplayed])),
		emitted:  int64(sum(families[metricEmitted])),
		late:     int64(sum(families[metricLate])),
		dlq:      byLabel(families[metricDLQ], "reason"),
		delay:    readHistogram(families[metricEmissionDelay]),
	}
}

// sum adds the values of every series of a counter or gauge family.
func sum(family *dto.MetricFamily) float64 {
	if family == nil {
		return 0
	}
	var total float64
	for _, m := range family.GetMetric() {
		switch {
		case m.GetCounter() != nil:
			total += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			total += m.GetGauge().GetValue()
		case m.GetUntyped() != nil:
			total += m.GetUntyped().GetValue()
		}
	}
	return total
}

// byLabel returns a counter family's values keyed by one label.
func byLabel(family *dto.MetricFamily, label string) map[string]int64 {
	out := map[string]int64{}
	if family == nil {
		return out
	}
	for _, m := range family.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] += int64(m.GetCounter().GetValue())
			}
		}
	}
	return out
}

// histogram is a Prometheus histogram's cumulative buckets.
type histogram struct {
	// upperBounds are the finite bucket bounds, ascending; cumulative[i]
	// counts the observations <= upperBounds[i].
	upperBounds []float64
	cumulative  []uint64
	// count is all observations, including those above the last bound.
	count uint64
}

// readHistogram reads the first series of a histogram family.
func readHistogram(family *dto.MetricFamily) histogram {
	if family == nil || len(family.GetMetric()) == 0 || family.GetMetric()[0].GetHistogram() == nil {
		return histogram{}
	}
	h := family.GetMetric()[0].GetHistogram()
	out := histogram{count: h.GetSampleCount()}
	buckets := h.GetBucket()
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].GetUpperBound() < buckets[j].GetUpperBound() })
	for _, b := range buckets {
		if math.IsInf(b.GetUpperBound(), +1) {
			continue
		}
		out.upperBounds = append(out.upperBounds, b.GetUpperBound())
		out.cumulative = append(out.cumulative, b.GetCumulativeCount())
	}
	return out
}

// since returns the observations made after earlier, a previous reading of
// the same histogram. A histogram that went backwards (a restarted service)
// is returned whole.
func (h histogram) since(earlier histogram) histogram {
	if earlier.count > h.count || len(earlier.cumulative) != len(h.cumulative) {
		return h
	}
	out := histogram{upperBounds: h.upperBounds, cumulative: make([]uint64, len(h.cumulative)), count: h.count - earlier.count}
	for i := range h.cumulative {
		out.cumulative[i] = h.cumulative[i] - earlier.cumulative[i]
	}
	return out
}

// quantile estimates the q-quantile (0 < q < 1) the way PromQL's
// histogram_quantile does: find the bucket holding the rank and interpolate
// linearly inside it, taking 0 as the lower bound of the first bucket. A rank
// above the last finite bound yields that bound. It returns false when the
// histogram has no observation.
func (h histogram) quantile(q float64) (float64, bool) {
	if h.count == 0 || len(h.upperBounds) == 0 {
		return 0, false
	}
	rank := q * float64(h.count)
	lowerBound, lowerCount := 0.0, 0.0
	for i, upper := range h.upperBounds {
		count := float64(h.cumulative[i])
		if count >= rank {
			if count == lowerCount {
				return upper, true
			}
			return lowerBound + (upper-lowerBound)*(rank-lowerCount)/(count-lowerCount), true
		}
		lowerBound, lowerCount = upper, count
	}
	return h.upperBounds[len(h.upperBounds)-1], true
}
