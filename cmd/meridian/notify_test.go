package main

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestSDNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	env := func(k string) string {
		if k == "NOTIFY_SOCKET" {
			return path
		}
		return ""
	}
	if err := sdNotify(env, "READY=1\nSTATUS=running"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1\nSTATUS=running" {
		t.Fatalf("datagram %q, err %v", buf[:n], err)
	}

	// An abstract socket, as systemd usually hands out.
	abs, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "\x00meridian-notify-test-" + filepath.Base(t.TempDir()), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer abs.Close()
	name := "@" + abs.LocalAddr().String()[1:]
	if err := sdNotify(func(string) string { return name }, "STOPPING=1"); err != nil {
		t.Fatal(err)
	}
	abs.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := abs.Read(buf); err != nil || string(buf[:n]) != "STOPPING=1" {
		t.Fatalf("abstract datagram %q, err %v", buf[:n], err)
	}

	if err := sdNotify(func(string) string { return "" }, "READY=1"); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v", err)
	}
	if err := sdNotify(func(string) string { return "relative" }, "READY=1"); err == nil {
		t.Error("relative NOTIFY_SOCKET accepted")
	}
	if err := sdNotify(func(string) string { return filepath.Join(t.TempDir(), "gone") }, "READY=1"); err == nil {
		t.Error("missing socket: no error")
	}
}
