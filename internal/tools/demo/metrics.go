package demo

import (
	"context"
	"fmt"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric names the board reads from the services' /metrics endpoints.
const (
	metricConsumed = "tickcompact_aggregator_records_consumed_total"
	metricReplayed = "tickcompact_aggregator_records_replayed_total"
	metricEmitted  = "tickcompact_aggregator_records_emitted_total"
	metricLate     = "tickcompact_aggregator_late_records_total"
	metricDLQ      = "tickcompact_aggregator_dlq_records_total"
)

// pipelineReading is one scrape of the aggregator's counters.
type pipelineReading struct {
	// tradesIn is records consumed minus records replayed: each input record
	// counted once even when a rebalance makes the aggregator read it again.
	tradesIn int64
	emitted  int64
	late     int64
	dlq      map[string]int64
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
