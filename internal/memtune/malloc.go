// Package memtune sets the services' memory defaults: the C allocator's
// (glibc malloc, which librdkafka uses) and the Go garbage collector's.
package memtune

// glibc gives threads that contend for the allocator their own arena, up to
// eight per core, and memory freed into an arena stays in the process. The
// librdkafka threads of a consumer and a producer (one per broker connection,
// plus the main and background threads) allocate fetch buffers and message
// batches concurrently, so a busy service ends up holding many part-empty
// arenas: measured with make bench (row 5), much of the aggregator's resident
// memory beyond the Go heap.

/*
#include <malloc.h>
*/
import "C"

import "os"

// DefaultArenas is the arena limit LimitArenas applies: two keep contention
// low for librdkafka's few busy threads.
const DefaultArenas = 2

// LimitArenas caps glibc's malloc arenas at n unless MALLOC_ARENA_MAX is set
// (glibc reads that itself, and the operator's choice wins). Call it first in
// main, before librdkafka starts its threads. It reports the limit applied, or
// 0 when it left glibc's setting alone.
func LimitArenas(n int) int {
	if os.Getenv("MALLOC_ARENA_MAX") != "" || n <= 0 {
		return 0
	}
	if C.mallopt(C.M_ARENA_MAX, C.int(n)) != 1 {
		return 0
	}
	return n
}
