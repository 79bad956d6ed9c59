package memtune

// Apply sets the services' memory defaults: glibc's arena limit and fixed
// mmap threshold, and Go's GC target (DefaultGCPercent, with at least
// DefaultGCHeadroom of growth), each unless the operator's environment
// variable for it is set. Call it first in main, before librdkafka starts
// its threads.
func Apply() {
	LimitArenas(DefaultArenas)
	FixMmapThreshold(DefaultMmapThreshold)
	KeepGCHeadroom(DefaultGCPercent, DefaultGCHeadroom)
}
