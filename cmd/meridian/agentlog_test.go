package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/internal/logging"
)

type fakeSyslog struct{ lines []string }

func (f *fakeSyslog) Debug(m string) error   { f.lines = append(f.lines, "debug "+m); return nil }
func (f *fakeSyslog) Info(m string) error    { f.lines = append(f.lines, "info "+m); return nil }
func (f *fakeSyslog) Warning(m string) error { f.lines = append(f.lines, "warning "+m); return nil }
func (f *fakeSyslog) Err(m string) error     { f.lines = append(f.lines, "err "+m); return nil }

func TestAgentLoggerSyslog(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.EnableSyslog = true

	t.Run("unreachable: one warning, stderr goes on", func(t *testing.T) {
		var stderr bytes.Buffer
		dials := 0
		l, closeFn, err := agentLogger(cfg, &stderr, func(string) (logging.SyslogWriter, func() error, error) {
			dials++
			return nil, nil, errors.New("Unix syslog delivery error")
		})
		if err != nil {
			t.Fatal(err)
		}
		defer closeFn()
		l.Info("after")
		out := stderr.String()
		if dials != 1 || strings.Count(out, "syslog is not reachable") != 1 || !strings.Contains(out, "msg=after") {
			t.Errorf("dials %d, stderr %q", dials, out)
		}
	})
	t.Run("reachable: both get the records", func(t *testing.T) {
		var stderr bytes.Buffer
		sys := &fakeSyslog{}
		closed := false
		l, closeFn, err := agentLogger(cfg, &stderr, func(f string) (logging.SyslogWriter, func() error, error) {
			if f != "LOCAL0" {
				t.Errorf("facility %q", f)
			}
			return sys, func() error { closed = true; return nil }, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		l.Warn("hello", "k", "v")
		closeFn()
		if !closed || len(sys.lines) != 1 || sys.lines[0] != "warning msg=hello k=v" || !strings.Contains(stderr.String(), "msg=hello k=v") {
			t.Errorf("closed %v, syslog %q, stderr %q", closed, sys.lines, stderr.String())
		}
	})
	t.Run("off: never dials", func(t *testing.T) {
		off := config.DefaultConfig()
		_, closeFn, err := agentLogger(off, &bytes.Buffer{}, func(string) (logging.SyslogWriter, func() error, error) {
			t.Error("dialled syslog with enable_syslog off")
			return nil, nil, errors.New("no")
		})
		if err != nil {
			t.Fatal(err)
		}
		closeFn()
	})
}

func TestAgentLoggerFile(t *testing.T) {
	dir := t.TempDir()
	cfg := config.DefaultConfig()
	cfg.LogFile = dir + "/"
	cfg.LogRotateBytes = 200
	cfg.LogRotateMaxFiles = 2
	var stderr bytes.Buffer
	l, closeFn, err := agentLogger(cfg, &stderr, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		l.Info("to the file", "i", i)
	}
	closeFn()
	cur, err := os.ReadFile(filepath.Join(dir, "meridian.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cur), "i=19") || !strings.Contains(stderr.String(), "i=19") {
		t.Errorf("current file %q; stderr lacks the line: %v", cur, !strings.Contains(stderr.String(), "i=19"))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("%d files in the log dir, want the current one and 2 rotated", len(entries))
	}
	cfg.LogFile = filepath.Join(dir, "meridian.log", "x.log") // under a file
	if _, _, err := agentLogger(cfg, &stderr, nil); err == nil {
		t.Error("a log file that cannot be created was accepted")
	}
}
