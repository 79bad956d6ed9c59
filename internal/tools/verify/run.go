package verify

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/kafkaclient"
)

// Run reads the topics (and the Redis snapshot), verifies the output and
// returns the report. An error means the verification could not be done;
// violations are in the report. librdkafka's own logs go to logger.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	began := time.Now()
	settings := cfg.Settings
	settings.Now = began
	var notes []string

	// The readers' logs are forwarded until they are closed (defers run
	// last first).
	kafkaLogs := kafkaclient.NewMonitor(logger, cfg.Brokers, nil)
	var stopLogs []func()
	defer func() {
		for _, stop := range stopLogs {
			stop()
		}
	}()
	open := func(topic string) (*topicReader, error) {
		cm, err := consumerConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("verify: %w: --property: %v", ErrUsage, err)
		}
		stopLogs = append(stopLogs, kafkaLogs.Forward(ctx, kafkaclient.EnableLogs(cm), "verify-"+topic))
		return openTopic(cm, topic, cfg.Timeout)
	}
	out, err := open(cfg.OutputTopic)
	if err != nil {
		return nil, err
	}
	defer out.close()
	// The topic the window stage reads; with repartitioning, the raw topic
	// is read too, for the copy audit.
	inputTopic, convert := cfg.InputTopic, inputRecord
	var raw *topicReader
	if settings.Repartition {
		inputTopic, convert = RepartitionTopic(cfg.InputTopic), copyRecord
		if raw, err = open(cfg.InputTopic); err != nil {
			return nil, err
		}
		defer raw.close()
	}
	in, err := open(inputTopic)
	if err != nil {
		return nil, err
	}
	defer in.close()

	switch cfg.Compacted {
	case "true":
		settings.Compacted = true
	case "auto":
		compacted, err := outputCompacted(ctx, out)
		if err != nil {
			notes = append(notes, fmt.Sprintf("could not read the cleanup.policy of %s (%v): assuming it is not compacted; see --compacted", cfg.OutputTopic, err))
		}
		settings.Compacted = compacted
	}

	// The output's end first: every output record below it was made from
	// input committed before it, hence below the input's end read next; so
	// is every copy below that from raw records below the raw topic's end.
	if _, err := out.snapshot(); err != nil {
		return nil, err
	}
	if _, err := in.snapshot(); err != nil {
		return nil, err
	}
	if raw != nil {
		if _, err := raw.snapshot(); err != nil {
			return nil, err
		}
	}
	v, err := New(settings)
	if err != nil {
		return nil, err
	}
	if raw != nil {
		v.Topics(cfg.InputTopic, raw.ends(), len(in.exists))
	}
	// A first pass over the output reads where its windows closed (Declare).
	if err := out.assign(); err != nil {
		return nil, err
	}
	if err := out.read(ctx, func(m *kafka.Message) { v.Declare(outputRecord(m)) }); err != nil {
		return nil, err
	}
	out.rewind()
	if raw != nil {
		if err := raw.assign(); err != nil {
			return nil, err
		}
		if err := raw.read(ctx, func(m *kafka.Message) { v.Raw(inputRecord(m)) }); err != nil {
			return nil, err
		}
		raw.close() // its queues and threads are not needed any more
	}
	// Both fetch at once: the output is prefetched while the input is read.
	if err := in.assign(); err != nil {
		return nil, err
	}
	if err := out.assign(); err != nil {
		return nil, err
	}
	if err := in.read(ctx, func(m *kafka.Message) { v.Input(convert(m)) }); err != nil {
		return nil, err
	}
	if err := in.consumer.Unassign(); err != nil { // frees its prefetched records
		return nil, fmt.Errorf("verify: %w: unassigning %s: %v", ErrKafka, cfg.InputTopic, err)
	}
	v.EndInput()
	readOutput := func(m *kafka.Message) { v.Output(outputRecord(m)) }
	if err := out.read(ctx, readOutput); err != nil {
		return nil, err
	}

	if cfg.Settle > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(cfg.Settle):
		}
		if _, err := out.snapshot(); err != nil {
			return nil, err
		}
		grew, err := in.snapshot()
		if err != nil {
			return nil, err
		}
		if grew {
			notes = append(notes, fmt.Sprintf("%s grew while settling: output records that match nothing in the second pass are counted as unverifiable", inputTopic))
		}
		v.Settling(grew)
		if err := out.assign(); err != nil {
			return nil, err
		}
		if err := out.read(ctx, readOutput); err != nil {
			return nil, err
		}
	}

	if cfg.Redis.Addr != "" {
		entries, err := readSnapshot(ctx, cfg.Redis, cfg.Timeout)
		if err != nil {
			return nil, err
		}
		v.Snapshot(cfg.Redis.SnapshotKey, entries)
	}

	rep := v.Report()
	rep.Input.Topic, rep.Input.Partitions = inputTopic, in.partitions()
	rep.Output.Topic, rep.Output.Partitions = cfg.OutputTopic, out.partitions()
	rep.Settings = SettingsReport{
		WindowSize: settings.WindowSize.String(), Grace: settings.Grace.String(), IdleTimeout: settings.IdleTimeout.String(),
		LiveLag: settings.LiveLag.String(), ISINField: settings.ISINField, TimeField: settings.TimeField,
		MaxFuture: settings.MaxFuture.String(), PriceField: settings.PriceField, VolumeField: settings.VolumeField,
		Settle: cfg.Settle.String(), ReadAt: began.UTC().Format(time.RFC3339Nano),
	}
	rep.Notes = append(append(notes, rep.Notes...), rep.notes(settings)...)
	rep.ElapsedMS = time.Since(began).Milliseconds()
	return rep, nil
}

// notes are the caveats that apply to what was found.
func (r *Report) notes(s Settings) []string {
	var notes []string
	switch {
	case r.Input.Rejected["future-time"] == 0:
	case s.TimeField != "":
		notes = append(notes, fmt.Sprintf("future-time: an event time more than %v ahead of the record's own timestamp is counted as rejected; "+
			"the aggregator compared it with its wall clock when it read the record, and may have accepted it", s.MaxFuture))
	default:
		notes = append(notes, fmt.Sprintf("future-time: a record stamped more than %v after the reading began is counted as rejected; "+
			"one near that boundary may have been judged otherwise by the aggregator's clock", s.MaxFuture))
	}
	if r.Input.FutureAmbiguous > 0 {
		notes = append(notes, fmt.Sprintf("%d valid records jump more than %v ahead of their partition's earlier timestamps: "+
			"a live aggregator may have rejected them as future-time", r.Input.FutureAmbiguous, s.MaxFuture))
	}
	if r.Input.SplitISINs > 0 && s.Repartition {
		notes = append(notes, fmt.Sprintf("%d ISINs occur in more than one partition of %s: its copies are not partitioned by ISIN, "+
			"and duplicates are to be expected", r.Input.SplitISINs, r.Input.Topic))
	} else if r.Input.SplitISINs > 0 {
		notes = append(notes, fmt.Sprintf("%d ISINs occur in more than one input partition: the input is not keyed by ISIN "+
			"(with input.repartition, pass --repartition)", r.Input.SplitISINs))
	}
	return notes
}
