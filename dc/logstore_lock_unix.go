//go:build unix

package dc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/raft-wal/metadb"
)

// checkWALUnlocked fails when another process holds the WAL's meta store
// in dir (another server on the same data directory) for longer than
// timeout: raft-wal opens it without a timeout, and would wait forever.
// The lock is only tested, then released for raft-wal to take.
func checkWALUnlocked(dir string, timeout time.Duration) error {
	f, err := os.Open(filepath.Join(dir, metadb.FileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is locked by another process (another server on this data directory?)", f.Name())
		}
		time.Sleep(50 * time.Millisecond) // polling a lock held by another process
	}
}
