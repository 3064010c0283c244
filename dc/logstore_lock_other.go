//go:build !unix

package dc

import "time"

// checkWALUnlocked: on systems without flock, raft-wal's own open decides.
func checkWALUnlocked(string, time.Duration) error { return nil }
