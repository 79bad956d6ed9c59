// Package memtune sets the services' memory defaults: the C allocator's
// (glibc malloc, which librdkafka uses) and the Go garbage collector's.
package memtune

// glibc gives threads that contend for the allocator their own arena, up to
// eight per core, and memory freed into an arena stays in the process. The
// librdkafka threads of a consumer and a producer (one per broker connection,
// plus the main and background threads) allocate fetch buffers and message
// batches concurrently, so a busy service ends up holding many part-empty
// arenas, which can be much of its resident memory beyond the Go heap
// (tickcompact_c_heap_free_bytes on /metrics shows how much).

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
func LimitArenas(n int) int { return mallopt(C.M_ARENA_MAX, "MALLOC_ARENA_MAX", n) }

// DefaultMmapThreshold is the size from which FixMmapThreshold makes glibc
// serve an allocation with its own mmap, returned to the system on free.
// glibc starts at 128 KiB but raises the threshold to the size of each
// mmapped block freed, up to 32 MiB: after librdkafka frees its first fetch
// response or decompression buffer (up to a few MiB each), every later one
// comes from an arena, and freed arena memory mostly stays resident. Fixed,
// the threshold keeps those buffers out of the arenas, and their memory is
// returned when they are freed.
const DefaultMmapThreshold = 128 << 10

// FixMmapThreshold sets glibc's mmap threshold to bytes, which also stops its
// dynamic adjustment, unless MALLOC_MMAP_THRESHOLD_ is set (glibc reads that
// itself, and the operator's choice wins). It reports the threshold applied,
// or 0.
func FixMmapThreshold(bytes int) int {
	return mallopt(C.M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_", bytes)
}

// mallopt sets glibc's parameter to value unless the environment variable
// glibc reads for it is set or value is not positive. It reports the value
// applied, or 0.
func mallopt(param C.int, env string, value int) int {
	if os.Getenv(env) != "" || value <= 0 {
		return 0
	}
	if C.mallopt(param, C.int(value)) != 1 {
		return 0
	}
	return value
}

// MallocStats is glibc's account of the C heap (mallinfo2), summed over arenas.
type MallocStats struct {
	// InUse is allocated and not yet freed: in arenas and in mmapped blocks.
	InUse uint64
	// Free is freed but still held in arenas (reused by later allocations,
	// resident where it was touched).
	Free uint64
	// Mmapped is the part of InUse in blocks mmapped on their own.
	Mmapped uint64
}

// ReadMallocStats returns the C heap's current figures. It walks every
// arena's free lists under their locks: cheap enough for a scrape, not for a
// hot path.
func ReadMallocStats() MallocStats {
	mi := C.mallinfo2()
	return MallocStats{
		InUse:   uint64(mi.uordblks) + uint64(mi.hblkhd),
		Free:    uint64(mi.fordblks),
		Mmapped: uint64(mi.hblkhd),
	}
}
