package main

import (
	"fmt"
	"net"
	"strings"
)

// sdNotify sends state (newline-separated VAR=value assignments, such as
// "READY=1") to the service manager's notification socket, as
// sd_notify(3) does: one datagram to $NOTIFY_SOCKET, a filesystem path or
// an abstract socket written with a leading '@'. Without NOTIFY_SOCKET
// (not started by systemd with Type=notify) it does nothing.
func sdNotify(getenv func(string) string, state string) error {
	sock := getenv("NOTIFY_SOCKET")
	if sock == "" {
		return nil
	}
	if !strings.HasPrefix(sock, "/") && !strings.HasPrefix(sock, "@") {
		return fmt.Errorf("sd_notify: NOTIFY_SOCKET %q is neither a path nor an abstract socket", sock)
	}
	addr := &net.UnixAddr{Name: sock, Net: "unixgram"}
	if strings.HasPrefix(sock, "@") {
		addr.Name = "\x00" + sock[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
