package aggregator

import (
	"log/slog"

	"tickcompact/internal/kafkaclient"
	"tickcompact/internal/readiness"
)

// conditions are the aggregator's /readyz conditions (internal/readiness),
// updated by the service's goroutines.
type conditions struct {
	state *readiness.State
	// kafka keeps the dependency on the brokers and gets every client's
	// logs and errors.
	kafka        *kafkaclient.Monitor
	inputTopic   *readiness.Condition
	transactions *readiness.Condition
	partitions   *readiness.Condition
}

func newConditions(cfg Config, logger *slog.Logger) *conditions {
	state := readiness.New(kafkaclient.Secrets(cfg.Kafka.Properties))
	return &conditions{
		state:        state,
		kafka:        kafkaclient.NewMonitor(logger, cfg.Kafka.Brokers, state),
		inputTopic:   state.Condition("input topic", "not looked up yet"),
		transactions: state.Condition("transactions", "transactional producer not initialized"),
		partitions:   state.Condition("partitions", "no input partitions assigned"),
	}
}
