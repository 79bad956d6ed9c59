package logging

import (
	"sync"
	"time"
)

// Folding steps: a kind of line that keeps repeating is written at once, then
// at most once FoldFirstStep later, the step doubling each time up to
// FoldMaxStep. Half a minute of a broker that does not answer is then six
// lines of it, an hour about seventy.
const (
	FoldFirstStep = time.Second
	FoldMaxStep   = time.Minute
)

// maxKinds bounds the kinds a Folder remembers; beyond it, kinds not seen for
// FoldMaxStep are forgotten.
const maxKinds = 1000

// Folder decides which occurrences of a repeating kind of log line to write,
// so that a dependency that stays down is reported at a backoff rather than
// at the rate its client library notices it: the first occurrence of a kind
// is written, then the first one after each step, each written line standing
// for the occurrences folded since the one before. It is safe for concurrent
// use; the zero value is not: use NewFolder.
type Folder struct {
	mu    sync.Mutex
	kinds map[string]*fold
	now   func() time.Time
}

type fold struct {
	next   time.Time // no line before this
	step   time.Duration
	folded int // occurrences not written since the last line
	last   time.Time
}

// NewFolder returns an empty Folder.
func NewFolder() *Folder { return &Folder{kinds: map[string]*fold{}, now: time.Now} }

// Note records an occurrence of kind. It reports whether to write it, and how
// many earlier occurrences, not written, the line stands for.
func (f *Folder) Note(kind string) (write bool, folded int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	k := f.kinds[kind]
	if k == nil {
		f.forgetIdle(now)
		k = &fold{next: now.Add(FoldFirstStep), step: FoldFirstStep, last: now}
		f.kinds[kind] = k
		return true, 0
	}
	k.last = now
	if now.Before(k.next) {
		k.folded++
		return false, 0
	}
	folded = k.folded
	k.folded = 0
	k.step = min(2*k.step, FoldMaxStep)
	k.next = now.Add(k.step)
	return true, folded
}

// Forget starts kind over, for when what it reports has ended: its next
// occurrence is written at once. It returns the occurrences folded since the
// last line of kind was written.
func (f *Folder) Forget(kind string) (folded int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k := f.kinds[kind]; k != nil {
		folded = k.folded
		delete(f.kinds, kind)
	}
	return folded
}

func (f *Folder) forgetIdle(now time.Time) {
	if len(f.kinds) < maxKinds {
		return
	}
	for kind, k := range f.kinds {
		if now.Sub(k.last) > FoldMaxStep {
			delete(f.kinds, kind)
		}
	}
}
