package memtune

import "testing"

func TestLimitArenas(t *testing.T) {
	t.Setenv("MALLOC_ARENA_MAX", "")
	if got := LimitArenas(DefaultArenas); got != DefaultArenas {
		t.Fatalf("LimitArenas(%d) = %d: mallopt(M_ARENA_MAX) refused", DefaultArenas, got)
	}
	t.Setenv("MALLOC_ARENA_MAX", "4")
	if got := LimitArenas(DefaultArenas); got != 0 {
		t.Fatalf("with MALLOC_ARENA_MAX set, LimitArenas = %d, want 0 (the operator's setting wins)", got)
	}
	if got := LimitArenas(0); got != 0 {
		t.Fatalf("LimitArenas(0) = %d, want 0", got)
	}
}

func TestFixMmapThreshold(t *testing.T) {
	t.Setenv("MALLOC_MMAP_THRESHOLD_", "")
	if got := FixMmapThreshold(DefaultMmapThreshold); got != DefaultMmapThreshold {
		t.Fatalf("FixMmapThreshold(%d) = %d: mallopt(M_MMAP_THRESHOLD) refused", DefaultMmapThreshold, got)
	}
	t.Setenv("MALLOC_MMAP_THRESHOLD_", "65536")
	if got := FixMmapThreshold(DefaultMmapThreshold); got != 0 {
		t.Fatalf("with MALLOC_MMAP_THRESHOLD_ set, FixMmapThreshold = %d, want 0 (the operator's setting wins)", got)
	}
}
