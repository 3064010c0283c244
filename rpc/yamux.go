package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hashicorp/yamux"
)

// DefaultYamuxConfig returns the yamux settings Server and Pool use when
// their config leaves Yamux nil: yamux's defaults with keepalives every 30s,
// a 10s connection write timeout and a 30s bound on a half-closed stream.
// Logging goes to the component's slog.Logger. The keepalive only reaps
// idle sessions: a Pool finds a silent server much sooner by pinging the
// session of a call that waits (PoolConfig's PingAfter and PingTimeout),
// which is also why there is no stream open timeout: yamux would start a
// goroutine and a timer for every call to watch for the stream's
// acknowledgement, which the call's own wait for its answer covers.
func DefaultYamuxConfig() *yamux.Config {
	c := yamux.DefaultConfig()
	c.KeepAliveInterval = 30 * time.Second
	c.ConnectionWriteTimeout = 10 * time.Second
	c.StreamOpenTimeout = 0
	c.StreamCloseTimeout = 30 * time.Second
	c.LogOutput = nil
	return c
}

// yamuxConfig returns a private copy of c (or the defaults) whose logging
// goes to logger unless c names its own destination.
func yamuxConfig(c *yamux.Config, logger *slog.Logger) *yamux.Config {
	if c == nil {
		c = DefaultYamuxConfig()
	}
	c = c.Clone()
	if c.Logger == nil && c.LogOutput == nil {
		c.Logger = yamuxLogger{logger}
	}
	return c
}

// yamuxLogger adapts slog to yamux's Logger, reading the level from the
// "[ERR]" / "[WARN]" prefix yamux puts on its lines.
type yamuxLogger struct{ l *slog.Logger }

func (y yamuxLogger) Print(v ...any)                 { y.log(fmt.Sprint(v...)) }
func (y yamuxLogger) Printf(format string, v ...any) { y.log(fmt.Sprintf(format, v...)) }
func (y yamuxLogger) Println(v ...any)               { y.log(fmt.Sprint(v...)) }

func (y yamuxLogger) log(msg string) {
	level := slog.LevelInfo
	switch {
	case strings.HasPrefix(msg, "[ERR]"):
		level = slog.LevelError
		msg = strings.TrimSpace(strings.TrimPrefix(msg, "[ERR]"))
	case strings.HasPrefix(msg, "[WARN]"):
		level = slog.LevelWarn
		msg = strings.TrimSpace(strings.TrimPrefix(msg, "[WARN]"))
	case strings.HasPrefix(msg, "[DEBUG]"):
		level = slog.LevelDebug
		msg = strings.TrimSpace(strings.TrimPrefix(msg, "[DEBUG]"))
	}
	y.l.Log(context.Background(), level, strings.TrimSpace(msg), "component", "yamux")
}

// orDiscard returns l, or a logger that drops everything when l is nil.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
