package verify

import (
	"cmp"
	"fmt"
	"slices"
)

// The aggregator's output headers that say how and where each window closed.
const (
	headerClosedBy        = "closed-by"
	headerClosedAtOffset  = "closed-at-offset"
	headerSourcePartition = "source-partition"
	closedByWallClock     = "wall-clock"
	closedByWatermark     = "watermark"
)

// declaredClose is a wall-clock close the output declares: before the record
// at offset at of its source partition, every open window ending at or before
// through closed.
type declaredClose struct {
	at      int64
	through int64
}

// declarations are the wall-clock closes read from the output's headers, per
// source partition, in offset order once sealed.
type declarations struct {
	byPartition map[int32][]declaredClose
	sealed      bool
	// with and without count the output records with and without readable
	// closing headers.
	with, without int64
	// unexplained is the first declared close the timestamps do not explain.
	unexplained *unexplainedClose
}

type unexplainedClose struct {
	partition int32
	at        int64
}

// Declare reads the closing headers of one output record, in a pass over the
// output before any Input. Once any output record declares how its window
// closed, the live model closes windows by wall clock exactly where the output
// says it did, instead of estimating it from record timestamps: the topics do
// not record when the aggregator's partitions went quiet, the headers do.
// Records without the headers, or with unreadable ones, declare nothing;
// Output judges them.
func (v *Verifier) Declare(r OutputRecord) {
	d := &v.declared
	by := string(r.ClosedBy)
	end, ok1 := parseMillis(r.WindowEnd)
	at, ok2 := parseMillis(r.ClosedAtOffset)
	source, ok3 := parseMillis(r.SourcePartition)
	if by != closedByWallClock && by != closedByWatermark || !ok1 || !ok2 || !ok3 || source > 1<<31-1 {
		d.without++
		return
	}
	d.with++
	if d.byPartition == nil {
		d.byPartition = map[int32][]declaredClose{}
	}
	if by == closedByWatermark {
		return // the watermark model finds those by itself; Output checks the offset
	}
	v.report.Windows.DeclaredWallClock++
	p := int32(source)
	d.byPartition[p] = append(d.byPartition[p], declaredClose{at: at, through: end})
}

// usesDeclarations reports whether the output declared how its windows
// closed: every record has the closing headers. An output mixing records with
// and without them (an aggregator upgraded in place) is estimated throughout.
func (v *Verifier) usesDeclarations() bool { return v.declared.with > 0 && v.declared.without == 0 }

// seal orders the declarations, merging those made at one offset (one close
// of several windows, read from several output records).
func (d *declarations) seal() {
	if d.sealed {
		return
	}
	d.sealed = true
	for p, list := range d.byPartition {
		slices.SortFunc(list, func(a, b declaredClose) int { return cmp.Compare(a.at, b.at) })
		merged := list[:0]
		for _, c := range list {
			if n := len(merged); n > 0 && merged[n-1].at == c.at {
				merged[n-1].through = max(merged[n-1].through, c.through)
				continue
			}
			merged = append(merged, c)
		}
		d.byPartition[p] = merged
	}
}

// closeDeclared applies, to the live model of p, the declared wall-clock
// closes that happened before the record at offset. quiet says whether that
// record's timestamp shows the quiet period a wall-clock close needs; a close
// it does not explain is counted (the record may have reached the broker late,
// through an outage, or the window closed too early). With
// Settings.Repartition the sources' progress read so far explains a close
// instead (sources.letClose).
func (v *Verifier) closeDeclared(p *partition, offset int64, quiet bool) {
	list := v.declared.byPartition[p.id]
	for p.nextDeclared < len(list) && list[p.nextDeclared].at <= offset {
		c := list[p.nextDeclared]
		p.nextDeclared++
		if v.settings.Repartition {
			quiet = p.sources.letClose(c.through, v.grace)
		}
		if !quiet {
			v.unexplainedClose(p, c)
		}
		w := &p.liveWindows
		w.closedThrough = max(w.closedThrough, c.through)
		v.closeThrough(p, w, c.through, noTime, false)
	}
}

func (v *Verifier) unexplainedClose(p *partition, c declaredClose) {
	v.report.Windows.WallClockUnexplained++
	if v.declared.unexplained == nil {
		v.declared.unexplained = &unexplainedClose{partition: p.id, at: c.at}
	}
}

// judgeLastDeclared judges, with Settings.Repartition, the declared
// wall-clock closes after the last record read of their partition (the
// usual place: after the markers that announced the sources idle). Closes
// beyond what was read (the input grew) are not judged.
func (v *Verifier) judgeLastDeclared() {
	if !v.usesDeclarations() {
		return
	}
	v.declared.seal()
	for _, p := range v.partitions {
		list := v.declared.byPartition[p.id]
		for ; p.nextDeclared < len(list) && list[p.nextDeclared].at <= p.readThrough; p.nextDeclared++ {
			if c := list[p.nextDeclared]; !p.sources.letClose(c.through, v.grace) {
				v.unexplainedClose(p, c)
			}
		}
	}
}

// closedAtProblem checks the closing headers of an output record against the
// watermark model: a window closed by watermark closed right after the record
// that moved the watermark past it; one closed by wall clock closed before
// that record. It returns what is wrong, or "" (also when the record has no
// closing headers).
func (v *Verifier) closedAtProblem(r OutputRecord, start int64) string {
	if r.ClosedBy == nil {
		return ""
	}
	at, ok1 := parseMillis(r.ClosedAtOffset)
	source, ok2 := parseMillis(r.SourcePartition)
	if !ok1 || !ok2 || source > 1<<31-1 {
		return fmt.Sprintf("unreadable closing headers: closed-at-offset %q, source-partition %q", clip(r.ClosedAtOffset), clip(r.SourcePartition))
	}
	if p := v.partitions[int32(source)]; p == nil || at > p.readThrough {
		// Closed after the input this verifier read (it grew meanwhile).
		return ""
	}
	watermarkAt, closed := v.watermarkClosedAt[sourceWindow{int32(source), start}]
	switch by := string(r.ClosedBy); {
	case by == closedByWatermark && !closed:
		return fmt.Sprintf("closed-by watermark at input partition %d offset %d, but the watermark never passed the window", source, at)
	case by == closedByWatermark && at != watermarkAt:
		return fmt.Sprintf("closed-by watermark at input partition %d offset %d, but the record that moved the watermark past the window is at offset %d", source, at, watermarkAt-1)
	case by == closedByWallClock && closed && at >= watermarkAt:
		return fmt.Sprintf("closed-by wall-clock at input partition %d offset %d, but the watermark had closed the window at offset %d", source, at, watermarkAt-1)
	case by != closedByWatermark && by != closedByWallClock:
		return fmt.Sprintf("closed-by header %q is neither %s nor %s", clip(r.ClosedBy), closedByWatermark, closedByWallClock)
	}
	return ""
}

// declarationNotes explain how the wall-clock closes were modelled.
func (v *Verifier) declarationNotes() []string {
	d := &v.declared
	var notes []string
	if v.settings.Repartition && d.without > 0 {
		notes = append(notes, fmt.Sprintf("%d output records lack the closing headers (closed-by, closed-at-offset, source-partition): "+
			"with --repartition, wall-clock closes are not estimated; the live model closes windows only at the end of the input", d.without))
	} else if d.with > 0 && d.without > 0 {
		notes = append(notes, fmt.Sprintf("%d output records have closing headers (closed-by, closed-at-offset, source-partition) and %d do not: "+
			"wall-clock closes are estimated from record timestamps for all of them", d.with, d.without))
	}
	if u := d.unexplained; u != nil && v.settings.Repartition {
		notes = append(notes, fmt.Sprintf("%d wall-clock closes the output declares are not explained by the progress markers (the first at input partition %d offset %d): "+
			"a raw partition had neither passed the window nor been announced idle there. Windows closed too early", v.report.Windows.WallClockUnexplained, u.partition, u.at))
	} else if u != nil {
		notes = append(notes, fmt.Sprintf("%d wall-clock closes the output declares are not explained by record timestamps (the first before input partition %d offset %d): "+
			"the records after them were stamped less than the idle timeout after the ones before. Expected after a broker or producer outage "+
			"(records stamped before it arrive after it); otherwise windows closed too early", v.report.Windows.WallClockUnexplained, u.partition, u.at))
	}
	return notes
}
