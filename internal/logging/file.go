package logging

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultLogFileName is the file name log_file gets when it names a
// directory.
const DefaultLogFileName = "meridian.log"

// FileConfig is a log file with rotation (log_file and log_rotate_*).
type FileConfig struct {
	// Path is the file; a path ending in a separator, or an existing
	// directory, gets DefaultLogFileName in it.
	Path string
	// RotateBytes rotates the file before a write would take it past this
	// size; 0 never rotates by size.
	RotateBytes int64
	// RotateDuration rotates the file at the first write this long after
	// it was opened; 0 never rotates by age.
	RotateDuration time.Duration
	// MaxFiles is how many rotated files are kept: 0 keeps them all, -1
	// keeps none.
	MaxFiles int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// File is an io.Writer to a log file that rotates it: the current file
// keeps its name, a rotated one is renamed "<name>-<unix nanoseconds><ext>"
// (Consul's scheme), and the oldest rotated files beyond MaxFiles are
// removed. It is safe for concurrent use; each Write lands in one file.
type File struct {
	cfg     FileConfig
	dir     string
	base    string // file name without extension
	ext     string
	mu      sync.Mutex
	f       *os.File
	size    int64
	created time.Time
	// lastStamp is the stamp of the last rotated file's name.
	lastStamp int64
}

// OpenFile opens (appending to) or creates the log file of cfg.
func OpenFile(cfg FileConfig) (*File, error) {
	if cfg.Path == "" {
		return nil, errors.New("log file: no path")
	}
	if cfg.RotateBytes < 0 || cfg.RotateDuration < 0 || cfg.MaxFiles < -1 {
		return nil, fmt.Errorf("log file: bad rotation (bytes %d, duration %s, max files %d)", cfg.RotateBytes, cfg.RotateDuration, cfg.MaxFiles)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	path := cfg.Path
	if strings.HasSuffix(path, string(filepath.Separator)) || strings.HasSuffix(path, "/") {
		path = filepath.Join(path, DefaultLogFileName)
	} else if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, DefaultLogFileName)
	}
	name := filepath.Base(path)
	ext := filepath.Ext(name)
	lf := &File{cfg: cfg, dir: filepath.Dir(path), base: strings.TrimSuffix(name, ext), ext: ext}
	if err := os.MkdirAll(lf.dir, 0o755); err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	if err := lf.open(); err != nil {
		return nil, err
	}
	return lf, nil
}

// Path returns the current file's path.
func (lf *File) Path() string { return filepath.Join(lf.dir, lf.base+lf.ext) }

func (lf *File) open() error {
	f, err := os.OpenFile(lf.Path(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log file: %w", err)
	}
	lf.f, lf.size, lf.created = f, st.Size(), lf.cfg.Now()
	return nil
}

// Write appends p to the file, rotating first when p would take the file
// past RotateBytes (unless it is empty) or the file is RotateDuration old.
func (lf *File) Write(p []byte) (int, error) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return 0, os.ErrClosed
	}
	bySize := lf.cfg.RotateBytes > 0 && lf.size > 0 && lf.size+int64(len(p)) > lf.cfg.RotateBytes
	byAge := lf.cfg.RotateDuration > 0 && !lf.cfg.Now().Before(lf.created.Add(lf.cfg.RotateDuration))
	if bySize || byAge {
		if err := lf.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := lf.f.Write(p)
	lf.size += int64(n)
	return n, err
}

// Close closes the file; later writes fail with os.ErrClosed.
func (lf *File) Close() error {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return nil
	}
	err := lf.f.Close()
	lf.f = nil
	return err
}

func (lf *File) rotate() error {
	if err := lf.f.Close(); err != nil {
		return fmt.Errorf("log file: rotate: %w", err)
	}
	lf.f = nil
	// Names grow with each rotation even when the clock does not move
	// (or steps back), so the newest rotated file always sorts last.
	stamp := max(lf.cfg.Now().UnixNano(), lf.lastStamp+1)
	var target string
	for {
		target = filepath.Join(lf.dir, lf.base+"-"+strconv.FormatInt(stamp, 10)+lf.ext)
		if _, err := os.Lstat(target); errors.Is(err, os.ErrNotExist) {
			break
		}
		stamp++
	}
	lf.lastStamp = stamp
	if err := os.Rename(lf.Path(), target); err != nil {
		return fmt.Errorf("log file: rotate: %w", err)
	}
	if err := lf.open(); err != nil {
		return err
	}
	return lf.prune()
}

// Rotated returns the rotated files of lf, oldest first.
func (lf *File) Rotated() ([]string, error) {
	entries, err := os.ReadDir(lf.dir)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	type old struct {
		path  string
		stamp int64
	}
	var olds []old
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasPrefix(n, lf.base+"-") || !strings.HasSuffix(n, lf.ext) {
			continue
		}
		s, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(n, lf.base+"-"), lf.ext), 10, 64)
		if err != nil {
			continue
		}
		olds = append(olds, old{filepath.Join(lf.dir, n), s})
	}
	slices.SortFunc(olds, func(a, b old) int { return cmp.Compare(a.stamp, b.stamp) })
	out := make([]string, len(olds))
	for i, o := range olds {
		out[i] = o.path
	}
	return out, nil
}

// prune removes the oldest rotated files beyond MaxFiles.
func (lf *File) prune() error {
	if lf.cfg.MaxFiles == 0 {
		return nil
	}
	keep := max(lf.cfg.MaxFiles, 0)
	olds, err := lf.Rotated()
	if err != nil {
		return err
	}
	for len(olds) > keep {
		if err := os.Remove(olds[0]); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("log file: remove old: %w", err)
		}
		olds = olds[1:]
	}
	return nil
}
