package aggregator

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
)

// maxSlots bounds how many instances of one group may share a host.
const maxSlots = 256

// slotLock is a per-host claim on a transactional-id slot. The kernel drops it
// when the process dies, so a restarted instance reclaims the lowest free slot:
// usually its predecessor's, whose open transaction InitTransactions then
// aborts at once instead of leaving read_committed readers waiting for the
// transaction timeout.
type slotLock struct {
	file *os.File
	ID   string
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// claimTransactionalID returns "<group>-<host>-<slot>" (plus suffix) for the
// lowest slot no live process on this host holds. Instances on different
// hosts differ by host name; in containers each has its own host name.
func claimTransactionalID(group, suffix string) (*slotLock, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	base := unsafeChars.ReplaceAllString(group+suffix, "_")
	dir := filepath.Join(os.TempDir(), "tickcompact-slots")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("transactional id: %w", err)
	}
	for slot := 0; slot < maxSlots; slot++ {
		path := filepath.Join(dir, fmt.Sprintf("%s.%d.lock", base, slot))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return nil, fmt.Errorf("transactional id: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		return &slotLock{file: f, ID: fmt.Sprintf("%s-%s-%d", group+suffix, unsafeChars.ReplaceAllString(host, "_"), slot)}, nil
	}
	return nil, fmt.Errorf("transactional id: all %d slots for group %q on this host are taken", maxSlots, group)
}

// Release frees the slot. It is idempotent.
func (l *slotLock) Release() {
	if l != nil && l.file != nil {
		l.file.Close()
		l.file = nil
	}
}
