package memtune

import (
	"os"
	"runtime/debug"
)

// DefaultGCPercent is the garbage collector's target the services run with:
// the heap may grow to 1.5 times the live data between collections instead of
// Go's default 2 times. The aggregator keeps every open window's latest trade
// of each ISIN live, and the default doubled that in resident memory (make
// bench, row 5); the collections it adds cost little next to Kafka I/O.
const DefaultGCPercent = 50

// SetGCPercent sets the collector's target to percent unless GOGC is set (the
// operator's choice wins). It reports the target applied, or 0.
func SetGCPercent(percent int) int {
	if os.Getenv("GOGC") != "" || percent <= 0 {
		return 0
	}
	debug.SetGCPercent(percent)
	return percent
}
