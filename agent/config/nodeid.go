package config

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// nodeIDFile is the file under the data dir that keeps the node's ID
// across restarts (the same name Consul uses).
const nodeIDFile = "node-id"

// resolveNodeID fills c.NodeID: an explicit ID is kept; in dev mode the ID
// is random (or the previous one on Reload); otherwise it is read from
// <data-dir>/node-id, or generated and written there.
func (l *loader) resolveNodeID(c *Config) error {
	if c.NodeID != "" {
		return nil // validated by validate
	}
	if c.Dev || c.DataDir == "" {
		if l.prevNodeID != "" {
			c.NodeID = l.prevNodeID
			return nil
		}
		id, err := newUUID()
		c.NodeID = id
		return err
	}
	path := filepath.Join(c.DataDir, nodeIDFile)
	id, err := readNodeID(path)
	if err == nil {
		c.NodeID = id
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	id = l.prevNodeID
	if id == "" {
		if id, err = newUUID(); err != nil {
			return err
		}
	}
	if c.NodeID, err = persistNodeID(c.DataDir, path, id); err != nil {
		return fmt.Errorf("persist node ID: %w", err)
	}
	return nil
}

func readNodeID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	id := strings.ToLower(strings.TrimSpace(string(b)))
	if !isUUID(id) {
		return "", invalidf("node ID file %q does not hold a valid UUID", path)
	}
	return id, nil
}

// persistNodeID writes id to path without ever exposing a partial file,
// and without replacing an ID another process wrote first; it returns the
// ID that ends up in the file.
func persistNodeID(dir, path, id string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, nodeIDFile+".tmp*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(id)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	err = os.Link(tmp.Name(), path)
	switch {
	case err == nil:
		return id, nil
	case errors.Is(err, fs.ErrExist):
		return readNodeID(path) // another Load won the race
	}
	// A file system without hard links: fall back to rename.
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return id, nil
}

// newUUID returns a random (version 4) UUID in lowercase.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate node ID: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// isUUID reports whether s is a UUID in 8-4-4-4-12 hex form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
				return false
			}
		}
	}
	return true
}
