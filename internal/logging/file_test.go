package logging

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meridian-io/meridian/internal/clock"
)

func openTestFile(t *testing.T, cfg FileConfig) *File {
	t.Helper()
	f, err := OpenFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func rotated(t *testing.T, f *File) []string {
	t.Helper()
	r, err := f.Rotated()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func write(t *testing.T, f *File, s string) {
	t.Helper()
	if _, err := f.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func TestFileRotatesBySizeAndKeepsMaxFiles(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(time.Unix(1700000000, 0))
	f := openTestFile(t, FileConfig{Path: dir + "/", RotateBytes: 20, MaxFiles: 2, Now: clk.Now})
	if f.Path() != filepath.Join(dir, "meridian.log") {
		t.Fatalf("path = %s", f.Path())
	}
	write(t, f, "0123456789\n") // 11 bytes
	write(t, f, "abcdefgh\n")   // 20: fits
	if n := len(rotated(t, f)); n != 0 {
		t.Fatalf("rotated %d files at the limit", n)
	}
	for i := range 4 {
		write(t, f, strings.Repeat(string(rune('A'+i)), 15)+"\n")
	}
	olds := rotated(t, f)
	if len(olds) != 2 {
		t.Fatalf("kept %d rotated files, want 2: %v", len(olds), olds)
	}
	// The newest rotated file holds the third big line; the current one
	// the fourth.
	b, _ := os.ReadFile(olds[1])
	if string(b) != strings.Repeat("C", 15)+"\n" {
		t.Fatalf("newest rotated = %q", b)
	}
	b, _ = os.ReadFile(f.Path())
	if string(b) != strings.Repeat("D", 15)+"\n" {
		t.Fatalf("current = %q", b)
	}
	// A single line larger than the limit still goes into one file.
	write(t, f, strings.Repeat("x", 50)+"\n")
	b, _ = os.ReadFile(f.Path())
	if len(b) != 51 {
		t.Fatalf("current holds %d bytes, want 51", len(b))
	}
}

func TestFileRotatesByDuration(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(time.Unix(1700000000, 0))
	f := openTestFile(t, FileConfig{Path: filepath.Join(dir, "agent.log"), RotateDuration: time.Hour, Now: clk.Now})
	write(t, f, "one\n")
	clk.Advance(59 * time.Minute)
	write(t, f, "two\n")
	if n := len(rotated(t, f)); n != 0 {
		t.Fatalf("rotated before the hour: %d", n)
	}
	clk.Advance(time.Minute)
	write(t, f, "three\n")
	olds := rotated(t, f)
	if len(olds) != 1 || filepath.Base(olds[0]) != "agent-"+strconvNano(clk.Now())+".log" {
		t.Fatalf("rotated = %v", olds)
	}
	b, _ := os.ReadFile(olds[0])
	if string(b) != "one\ntwo\n" {
		t.Fatalf("rotated holds %q", b)
	}
	// The age counts from the new file's start.
	clk.Advance(30 * time.Minute)
	write(t, f, "four\n")
	if n := len(rotated(t, f)); n != 1 {
		t.Fatalf("rotated %d files 30m into the new file", n)
	}
	clk.Advance(30 * time.Minute)
	write(t, f, "five\n")
	if n := len(rotated(t, f)); n != 2 {
		t.Fatalf("rotated %d files after two hours, want 2 (max files 0 keeps all)", n)
	}
}

func TestFileMaxFilesMinusOneKeepsNone(t *testing.T) {
	clk := clock.NewFake(time.Unix(1700000000, 0))
	f := openTestFile(t, FileConfig{Path: filepath.Join(t.TempDir(), "m.log"), RotateBytes: 4, MaxFiles: -1, Now: clk.Now})
	for range 5 {
		write(t, f, "abc\n")
	}
	if n := len(rotated(t, f)); n != 0 {
		t.Fatalf("kept %d rotated files with max files -1", n)
	}
}

func TestFileBadConfig(t *testing.T) {
	for _, cfg := range []FileConfig{{}, {Path: "x", RotateBytes: -1}, {Path: "x", MaxFiles: -2}, {Path: "x", RotateDuration: -time.Second}} {
		if _, err := OpenFile(cfg); err == nil {
			t.Errorf("OpenFile(%+v) succeeded", cfg)
		}
	}
}

func strconvNano(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }
