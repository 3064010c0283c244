//go:build !windows && !plan9

package logging

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSyslogOverUnixgram sends the logs to a syslog stand-in listening on
// a Unix datagram socket at a temporary path, and checks the priority
// (facility LOCAL0 with the record's severity), tag and text of each
// message, and that the standard error copy is complete.
func TestSyslogOverUnixgram(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sys, err := DialSyslog("unixgram", path, "local0", "meridian")
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	var stderr bytes.Buffer
	log, err := NewWithSyslog("debug", false, &stderr, sys)
	if err != nil {
		t.Fatal(err)
	}
	log = log.With("node", "n1")
	log.Debug("d")
	log.Info("agent started", "http", "127.0.0.1:8500")
	log.Warn("w")
	log.Error("e")
	// LOCAL0 is 16<<3 = 128; debug 7, info 6, warning 4, err 3.
	want := []struct{ pri, text string }{
		{"<135>", `msg=d node=n1`}, {"<134>", `msg="agent started" node=n1 http=127.0.0.1:8500`},
		{"<132>", `msg=w node=n1`}, {"<131>", `msg=e node=n1`},
	}
	buf := make([]byte, 4096)
	for _, w := range want {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("read syslog message: %v", err)
		}
		got := string(buf[:n])
		if !strings.HasPrefix(got, w.pri) || !strings.Contains(got, "meridian[") || !strings.HasSuffix(strings.TrimSpace(got), w.text) {
			t.Errorf("syslog message = %q, want priority %s and text %q", got, w.pri, w.text)
		}
	}
	if n := strings.Count(stderr.String(), "\n"); n != 4 || !strings.Contains(stderr.String(), "level=WARN msg=w node=n1") {
		t.Errorf("stderr copy = %q", stderr.String())
	}
	if _, err := DialSyslog("", "", "LOCAL9", "x"); err == nil {
		t.Error("unknown facility accepted")
	}
	if _, err := DialSyslog("unixgram", filepath.Join(t.TempDir(), "none"), "LOCAL0", "x"); err == nil {
		t.Error("dial to a missing socket succeeded")
	}
}
