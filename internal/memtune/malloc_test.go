package memtune

import "testing"

func TestMallocParameters(t *testing.T) {
	for _, tt := range []struct {
		env   string
		set   func(int) int
		value int
	}{
		{"MALLOC_ARENA_MAX", LimitArenas, DefaultArenas},
		{"MALLOC_MMAP_THRESHOLD_", FixMmapThreshold, DefaultMmapThreshold},
	} {
		t.Run(tt.env, func(t *testing.T) {
			t.Setenv(tt.env, "")
			if got := tt.set(tt.value); got != tt.value {
				t.Fatalf("setting %d returned %d: mallopt refused", tt.value, got)
			}
			t.Setenv(tt.env, "4")
			if got := tt.set(tt.value); got != 0 {
				t.Fatalf("with %s set, it returned %d, want 0 (the operator's setting wins)", tt.env, got)
			}
			t.Setenv(tt.env, "")
			if got := tt.set(0); got != 0 {
				t.Fatalf("setting 0 returned %d, want 0", got)
			}
		})
	}
}
