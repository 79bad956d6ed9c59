package memtune

import (
	"runtime/debug"
	"testing"
)

func TestSetGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	if got := SetGCPercent(DefaultGCPercent); got != DefaultGCPercent {
		t.Fatalf("SetGCPercent = %d", got)
	}
	if prev := debug.SetGCPercent(100); prev != DefaultGCPercent {
		t.Fatalf("the collector's target is %d, want %d", prev, DefaultGCPercent)
	}
	t.Setenv("GOGC", "200")
	if got := SetGCPercent(DefaultGCPercent); got != 0 {
		t.Fatalf("with GOGC set, SetGCPercent = %d, want 0", got)
	}
	if prev := debug.SetGCPercent(100); prev != 100 {
		t.Fatalf("with GOGC set the target changed to %d", prev)
	}
}
