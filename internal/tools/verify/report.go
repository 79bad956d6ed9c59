package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"tickcompact/aggregator/trade"
)

// The kinds of findings listed as examples.
const (
	KindDuplicate = "duplicate"
	KindGap       = "gap"
	KindMismatch  = "mismatch"
	KindExtra     = "extra"
	KindMalformed = "malformed"
	KindRedis     = "redis"
	// The copy audit's (--repartition); see the ViolationReport fields of
	// the same names.
	KindCopyMissing   = "copy-missing"
	KindCopyDuplicate = "copy-duplicate"
	KindCopyMismatch  = "copy-mismatch"
	KindCopyStamp     = "copy-stamp"
	KindCopyInvalid   = "copy-invalid"
	KindCopyOrder     = "copy-order"
	KindMarker        = "marker"
)

// Report is the outcome of a verification, printed as text or as one JSON
// object (the field tags are the JSON schema).
type Report struct {
	// OK is true when no violation was found.
	OK         bool            `json:"ok"`
	Settings   SettingsReport  `json:"settings"`
	Input      InputReport     `json:"input"`
	Output     OutputReport    `json:"output"`
	Windows    WindowReport    `json:"windows"`
	Violations ViolationReport `json:"violations"`
	// Repartition is present with --repartition: the raw topic and the
	// copy into the repartition topic, which Input describes.
	Repartition *RepartitionReport `json:"repartition,omitempty"`
	// Redis is present when the snapshot was checked.
	Redis *RedisReport `json:"redis,omitempty"`
	// Examples lists up to Settings.Examples findings of each kind.
	Examples []Example `json:"examples"`
	// Notes are caveats that apply to this run.
	Notes     []string `json:"notes,omitempty"`
	ElapsedMS int64    `json:"elapsed_ms"`
}

// SettingsReport echoes the settings the expectations were computed with.
type SettingsReport struct {
	WindowSize  string `json:"window_size"`
	Grace       string `json:"grace"`
	IdleTimeout string `json:"idle_timeout"`
	LiveLag     string `json:"live_lag"`
	ISINField   string `json:"isin_field"`
	TimeField   string `json:"time_field"`
	MaxFuture   string `json:"max_future"`
	// PriceField and VolumeField are empty while the aggregates are off.
	PriceField  string `json:"price_field"`
	VolumeField string `json:"volume_field"`
	Settle      string `json:"settle"`
	// ReadAt is when reading began (RFC 3339): the clock future-time
	// rejections are judged against with record-timestamp event times.
	ReadAt string `json:"read_at"`
}

// InputReport counts the input records (informational).
type InputReport struct {
	Topic      string `json:"topic"`
	Partitions int    `json:"partitions"`
	Records    int64  `json:"records"`
	Valid      int64  `json:"valid"`
	// Rejected counts the invalid records by DLQ reason.
	Rejected map[string]int64 `json:"rejected"`
	Late     LateReport       `json:"late"`
	// FutureAmbiguous counts valid records whose event time is more than
	// max-future ahead of the partition's earlier record timestamps: a live
	// aggregator may have rejected them as future-time.
	FutureAmbiguous int64 `json:"future_ambiguous"`
	// SplitISINs counts ISINs found in more than one input partition: the
	// input is not keyed by ISIN, and duplicates are to be expected.
	SplitISINs int64 `json:"split_isins"`
}

// RepartitionReport describes the raw topic and its copy into the
// repartition topic (informational; the copy audit's violations are in
// ViolationReport).
type RepartitionReport struct {
	// RawTopic is the raw topic (--input); Topic the repartition topic.
	RawTopic      string `json:"raw_topic"`
	Topic         string `json:"topic"`
	RawPartitions int    `json:"raw_partitions"`
	RawRecords    int64  `json:"raw_records"`
	RawValid      int64  `json:"raw_valid"`
	// RawRejected counts the invalid raw records by DLQ reason.
	RawRejected map[string]int64 `json:"raw_rejected"`
	// Copied counts the valid raw records whose copy was read.
	Copied int64 `json:"copied"`
	// NotCopiedYet counts the valid raw records with no copy beyond what the
	// repartition stage had copied when the topics were read (its lag).
	NotCopiedYet int64 `json:"not_copied_yet"`
	// Markers counts the progress markers read.
	Markers int64 `json:"markers"`
	// Late counts the trades lost to lateness, out of RawValid.
	Late RawLateReport `json:"late"`
}

// RawLateReport counts the valid raw trades lost to lateness.
type RawLateReport struct {
	// OwnPartition counts those late in their own raw partition's order: as
	// many as a topic keyed by ISIN would lose, the least any interleaving
	// of the raw partitions allows.
	OwnPartition int64 `json:"own_partition"`
	// Watermark and Live count those each model finds late (the input's).
	Watermark int64 `json:"watermark_model"`
	Live      int64 `json:"live_model"`
}

func newRepartitionReport() *RepartitionReport {
	r := &RepartitionReport{RawRejected: map[string]int64{}}
	for _, reason := range trade.Reasons {
		r.RawRejected[string(reason)] = 0
	}
	return r
}

// LateReport counts the valid records each model finds late.
type LateReport struct {
	Watermark int64 `json:"watermark_model"`
	Live      int64 `json:"live_model"`
}

// OutputReport counts the output records read.
type OutputReport struct {
	Topic      string `json:"topic"`
	Partitions int    `json:"partitions"`
	Records    int64  `json:"records"`
	// AfterSettle counts the records read in the second pass (--settle).
	AfterSettle int64 `json:"read_after_settle"`
	// Unverifiable counts second-pass records that match nothing while the
	// input grew meanwhile: they may come from input never read.
	Unverifiable int64 `json:"unverifiable"`
}

// WindowReport tells how the output relates to the models (informational).
type WindowReport struct {
	// Expected counts the (ISIN, window)s closed under the watermark model.
	Expected int64 `json:"expected"`
	// Open counts the (ISIN, window)s still open under the watermark model at
	// the end of the input; OpenMatched of them have their record (closed by
	// wall clock), OpenPending not yet, which is no gap.
	Open        int64 `json:"open"`
	OpenMatched int64 `json:"open_matched"`
	OpenPending int64 `json:"open_pending"`
	// Matched counts output records that match a model; MatchedLiveOnly of
	// them only the live model's.
	Matched         int64 `json:"matched"`
	MatchedLiveOnly int64 `json:"matched_live_only"`
	// AbsentLiveOnly counts missing records the watermark model expects but
	// the live model does not (every trade late by wall clock).
	AbsentLiveOnly int64 `json:"absent_live_only"`
	// LiveDiffers counts (ISIN, window)s where the models disagree.
	LiveDiffers int64 `json:"live_model_differs"`
	// Compacted counts missing records superseded by a later window of the
	// same ISIN on a compacted output topic.
	Compacted int64 `json:"compacted"`
	// DeclaredWallClock counts output records whose headers say their window
	// closed by wall clock; when the output has those headers, the live model
	// closes windows where they say instead of estimating it.
	DeclaredWallClock int64 `json:"declared_wall_clock"`
	// WallClockUnexplained counts the declared wall-clock closes that record
	// timestamps do not explain: the next record of the partition was stamped
	// less than the idle timeout (minus the live lag) after the one before.
	// Legitimate when records reached the broker late (an outage); otherwise a
	// sign of windows closed too early. Not a violation: arrival times are not
	// in the topics.
	WallClockUnexplained int64 `json:"wall_clock_unexplained"`
}

// ViolationReport counts the contract violations; any makes the exit status 1.
type ViolationReport struct {
	Total int64 `json:"total"`
	// Duplicates counts output records for an (ISIN, window) already read.
	Duplicates int64 `json:"duplicates"`
	// Gaps counts (ISIN, window)s both models expect and the output lacks.
	Gaps int64 `json:"gaps"`
	// Mismatches counts output records matching neither model's record;
	// MismatchFields says which parts differ from the watermark model's.
	Mismatches     int64         `json:"mismatches"`
	MismatchFields MismatchCount `json:"mismatch_fields"`
	// Extras counts output records for an (ISIN, window) neither model has.
	Extras int64 `json:"extras"`
	// Malformed counts output records without an ISIN key or an aligned
	// window-start header.
	Malformed int64 `json:"malformed"`
	// Redis counts the snapshot violations (see RedisReport).
	Redis int64 `json:"redis"`

	// The copy audit (--repartition): the repartition topic against the raw
	// topic. CopyMissing counts valid raw records with no copy, below the
	// offset that every partition of the repartition topic says their raw
	// partition was copied through (by a marker, or a later copy).
	CopyMissing int64 `json:"copy_missing"`
	// CopyDuplicates counts copies of a raw record already copied.
	CopyDuplicates int64 `json:"copy_duplicates"`
	// CopyMismatches counts copies whose value bytes, key (the ISIN) or
	// timestamp differ from their raw record's.
	CopyMismatches int64 `json:"copy_mismatches"`
	// CopyStamps counts copies whose raw-watermark header is not the
	// greatest event time of the valid records before theirs in their raw
	// partition (absent when there are none).
	CopyStamps int64 `json:"copy_stamps"`
	// CopyInvalid counts records of the repartition topic that copy no
	// valid raw record: an invalid one (the DLQ's), an offset without a
	// record, or no readable raw-partition and raw-offset headers.
	CopyInvalid int64 `json:"copy_invalid"`
	// CopyOrder counts copies that follow, in their partition of the
	// repartition topic, a copy of a later record of their raw partition.
	CopyOrder int64 `json:"copy_order"`
	// Markers counts progress markers that cannot be read, announce more raw
	// partitions than there are or an offset beyond a raw partition's end, or
	// whose watermark for a raw partition is not the greatest event time of
	// its valid records below the marker's offset.
	Markers int64 `json:"markers"`
}

// count counts a violation of kind (one listed as an example: not gaps
// nor Redis findings) and reports whether it is among the first
// Settings.Examples of its kind, which are listed.
func (v *Verifier) count(kind string) bool {
	vs := &v.report.Violations
	var n *int64
	switch kind {
	case KindMalformed:
		n = &vs.Malformed
	case KindExtra:
		n = &vs.Extras
	case KindDuplicate:
		n = &vs.Duplicates
	case KindMismatch:
		n = &vs.Mismatches
	case KindCopyMissing:
		n = &vs.CopyMissing
	case KindCopyDuplicate:
		n = &vs.CopyDuplicates
	case KindCopyMismatch:
		n = &vs.CopyMismatches
	case KindCopyStamp:
		n = &vs.CopyStamps
	case KindCopyInvalid:
		n = &vs.CopyInvalid
	case KindCopyOrder:
		n = &vs.CopyOrder
	case KindMarker:
		n = &vs.Markers
	default:
		panic("verify: no count for kind " + kind)
	}
	*n++
	return int(*n) <= v.settings.Examples
}

// copies is the copy audit's share of the total.
func (v ViolationReport) copies() int64 {
	return v.CopyMissing + v.CopyDuplicates + v.CopyMismatches + v.CopyStamps + v.CopyInvalid + v.CopyOrder + v.Markers
}

// MismatchCount counts mismatched records by the part that differs.
type MismatchCount struct {
	Value      int64 `json:"value"`
	Timestamp  int64 `json:"timestamp"`
	WindowEnd  int64 `json:"window_end"`
	TradeCount int64 `json:"trade_count"`
	// Aggregates counts records whose interval aggregate headers differ
	// from the model's (checked with --price-field and --volume-field).
	Aggregates int64 `json:"aggregates"`
	// ClosedAt counts records whose closing headers contradict the input:
	// closed by watermark elsewhere than where the watermark passed the
	// window, or by wall clock after the watermark had closed it.
	ClosedAt int64 `json:"closed_at"`
}

// RedisReport is the check of the sink's snapshot: per ISIN, the value of its
// greatest expected window and that window's end in the companion hash.
type RedisReport struct {
	Key      string `json:"key"`
	Fields   int    `json:"fields"`
	Expected int64  `json:"expected"`
	Matched  int64  `json:"matched"`
	// Violations.
	Missing             int64 `json:"missing"`
	ValueMismatches     int64 `json:"value_mismatches"`
	WindowEndMismatches int64 `json:"window_end_mismatches"`
	Stale               int64 `json:"stale"`
	Unexpected          int64 `json:"unexpected"`
	// Ahead counts ISINs whose snapshot is newer than the output read
	// (informational: the sink saw records written since).
	Ahead int64 `json:"ahead"`

	examples int64
}

func (r *RedisReport) violations() int64 {
	return r.Missing + r.ValueMismatches + r.WindowEndMismatches + r.Stale + r.Unexpected
}

// Example is one finding.
type Example struct {
	Kind        string `json:"kind"`
	ISIN        string `json:"isin,omitempty"`
	WindowStart int64  `json:"window_start,omitempty"`
	// OutputPartition and OutputOffset locate the offending output record.
	OutputPartition *int32 `json:"output_partition,omitempty"`
	OutputOffset    *int64 `json:"output_offset,omitempty"`
	Detail          string `json:"detail"`
}

func (r *Report) init() {
	r.Input.Rejected = map[string]int64{}
	for _, reason := range trade.Reasons {
		r.Input.Rejected[string(reason)] = 0
	}
	r.Examples = []Example{}
}

func (r *Report) total() {
	v := &r.Violations
	v.Redis = 0
	if r.Redis != nil {
		v.Redis = r.Redis.violations()
	}
	v.Total = v.Duplicates + v.Gaps + v.Mismatches + v.Extras + v.Malformed + v.Redis + v.copies()
	r.OK = v.Total == 0
}

// WriteJSON writes the report as one JSON object and a newline.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteText writes a short summary for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	verdict := "OK"
	if !r.OK {
		verdict = fmt.Sprintf("%d VIOLATIONS", r.Violations.Total)
	}
	s := r.Settings
	fmt.Fprintf(&b, "verify %s -> %s (window %s, grace %s, idle %s): %s\n",
		r.Input.Topic, r.Output.Topic, s.WindowSize, s.Grace, s.IdleTimeout, verdict)
	in := r.Input
	fmt.Fprintf(&b, "  input    %d records in %d partitions: %d valid, %d rejected%s; late %d (watermark model), %d (live model)\n",
		in.Records, in.Partitions, in.Valid, in.Records-in.Valid, reasons(in.Rejected), in.Late.Watermark, in.Late.Live)
	if rs := r.Repartition; rs != nil {
		fmt.Fprintf(&b, "  raw      %s: %d records in %d partitions: %d valid, %d rejected%s; %d copied, %d not copied yet; %d progress markers\n",
			rs.RawTopic, rs.RawRecords, rs.RawPartitions, rs.RawValid, rs.RawRecords-rs.RawValid, reasons(rs.RawRejected), rs.Copied, rs.NotCopiedYet, rs.Markers)
		fmt.Fprintf(&b, "  lateness of %d valid raw trades, lost %s under the watermark model, %s under the live model; %d late in their own raw partition's order\n",
			rs.RawValid, share(rs.Late.Watermark, rs.RawValid), share(rs.Late.Live, rs.RawValid), rs.Late.OwnPartition)
	}
	out := r.Output
	fmt.Fprintf(&b, "  output   %d records in %d partitions", out.Records, out.Partitions)
	if out.AfterSettle > 0 || out.Unverifiable > 0 {
		fmt.Fprintf(&b, " (%d after settling, %d unverifiable)", out.AfterSettle, out.Unverifiable)
	}
	b.WriteString("\n")
	wr := r.Windows
	fmt.Fprintf(&b, "  windows  %d expected closed, %d matched (%d only by the live model), %d open (%d matched, %d not emitted yet)",
		wr.Expected, wr.Matched, wr.MatchedLiveOnly, wr.Open, wr.OpenMatched, wr.OpenPending)
	if wr.Compacted > 0 {
		fmt.Fprintf(&b, ", %d compacted away", wr.Compacted)
	}
	if wr.DeclaredWallClock > 0 {
		fmt.Fprintf(&b, "; %d records closed by wall clock where their headers say", wr.DeclaredWallClock)
	}
	b.WriteString("\n")
	v := r.Violations
	fmt.Fprintf(&b, "  violations  duplicates %d, gaps %d, mismatches %d%s, extras %d, malformed %d",
		v.Duplicates, v.Gaps, v.Mismatches, mismatchFields(v.MismatchFields), v.Extras, v.Malformed)
	if r.Redis != nil {
		fmt.Fprintf(&b, ", redis %d", v.Redis)
	}
	if r.Repartition != nil {
		fmt.Fprintf(&b, "; copies: missing %d, duplicates %d, mismatches %d, stamps %d, invalid %d, order %d, markers %d",
			v.CopyMissing, v.CopyDuplicates, v.CopyMismatches, v.CopyStamps, v.CopyInvalid, v.CopyOrder, v.Markers)
	}
	b.WriteString("\n")
	if rs := r.Redis; rs != nil {
		fmt.Fprintf(&b, "  redis    %s: %d fields, %d expected, %d match; missing %d, value %d, window-end %d, stale %d, unexpected %d, ahead %d\n",
			rs.Key, rs.Fields, rs.Expected, rs.Matched, rs.Missing, rs.ValueMismatches, rs.WindowEndMismatches, rs.Stale, rs.Unexpected, rs.Ahead)
	}
	for _, e := range r.Examples {
		fmt.Fprintf(&b, "  %-9s %s", e.Kind, e.ISIN)
		if e.WindowStart != 0 {
			fmt.Fprintf(&b, " window %s", windowTime(e.WindowStart))
		}
		if e.OutputPartition != nil {
			fmt.Fprintf(&b, " at %s[%d]@%d", r.Output.Topic, *e.OutputPartition, *e.OutputOffset)
		}
		fmt.Fprintf(&b, ": %s\n", e.Detail)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// share formats n of total with its percentage.
func share(n, total int64) string {
	if total == 0 {
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("%d (%.2f %%)", n, 100*float64(n)/float64(total))
}

func reasons(rejected map[string]int64) string {
	var parts []string
	for reason, n := range rejected {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", reason, n))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	sort.Strings(parts)
	return " (" + strings.Join(parts, ", ") + ")"
}

func mismatchFields(m MismatchCount) string {
	var parts []string
	for _, f := range []struct {
		name string
		n    int64
	}{{"value", m.Value}, {"timestamp", m.Timestamp}, {"window-end", m.WindowEnd}, {"trade-count", m.TradeCount},
		{"aggregates", m.Aggregates}, {"closed-at", m.ClosedAt}} {
		if f.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", f.name, f.n))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
