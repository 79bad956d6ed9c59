package logging

import (
	"testing"
	"time"
)

func TestFolderSteps(t *testing.T) {
	now := time.Unix(0, 0)
	f := NewFolder()
	f.now = func() time.Time { return now }
	var written []time.Duration
	total := 0
	// One occurrence every 100 ms for 70 s.
	for at := time.Duration(0); at < 70*time.Second; at += 100 * time.Millisecond {
		now = time.Unix(0, 0).Add(at)
		write, folded := f.Note("broker down")
		if write {
			written = append(written, at)
			total += folded + 1
		}
	}
	want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second, 31 * time.Second, 63 * time.Second}
	if len(written) != len(want) {
		t.Fatalf("written at %v, want %v", written, want)
	}
	for i := range want {
		if written[i] != want[i] {
			t.Fatalf("written at %v, want %v", written, want)
		}
	}
	if rest := f.Forget("broker down"); total+rest != 700 {
		t.Fatalf("the lines and Forget account for %d occurrences, want 700", total+rest)
	}
	if write, folded := f.Note("broker down"); !write || folded != 0 {
		t.Fatalf("after Forget: write %v folded %d, want a fresh start", write, folded)
	}
	if write, _ := f.Note("another kind"); !write {
		t.Fatal("a new kind is held back")
	}
}
