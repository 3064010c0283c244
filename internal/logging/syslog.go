//go:build !windows && !plan9

package logging

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"strings"
	"sync"
)

// SyslogWriter is what the syslog handler sends records to;
// *syslog.Writer is one.
type SyslogWriter interface {
	Debug(msg string) error
	Info(msg string) error
	Warning(msg string) error
	Err(msg string) error
}

var facilities = map[string]syslog.Priority{
	"KERN": syslog.LOG_KERN, "USER": syslog.LOG_USER, "MAIL": syslog.LOG_MAIL, "DAEMON": syslog.LOG_DAEMON,
	"AUTH": syslog.LOG_AUTH, "SYSLOG": syslog.LOG_SYSLOG, "LPR": syslog.LOG_LPR, "NEWS": syslog.LOG_NEWS,
	"UUCP": syslog.LOG_UUCP, "CRON": syslog.LOG_CRON, "AUTHPRIV": syslog.LOG_AUTHPRIV, "FTP": syslog.LOG_FTP,
	"LOCAL0": syslog.LOG_LOCAL0, "LOCAL1": syslog.LOG_LOCAL1, "LOCAL2": syslog.LOG_LOCAL2, "LOCAL3": syslog.LOG_LOCAL3,
	"LOCAL4": syslog.LOG_LOCAL4, "LOCAL5": syslog.LOG_LOCAL5, "LOCAL6": syslog.LOG_LOCAL6, "LOCAL7": syslog.LOG_LOCAL7,
}

// DialSyslog connects to a syslog daemon with facility (a name such as
// "LOCAL0") and tag. Empty network and addr mean the local daemon (the
// Unix sockets log/syslog knows: /dev/log, /var/run/syslog,
// /var/run/log); otherwise network is "unixgram", "udp" or "tcp".
func DialSyslog(network, addr, facility, tag string) (*syslog.Writer, error) {
	f, ok := facilities[strings.ToUpper(facility)]
	if !ok {
		return nil, fmt.Errorf("unknown syslog facility %q", facility)
	}
	w, err := syslog.Dial(network, addr, f|syslog.LOG_INFO, tag)
	if err != nil {
		return nil, fmt.Errorf("syslog: %w", err)
	}
	return w, nil
}

// NewWithSyslog is New writing to w and, record by record, to sys at the
// syslog severity of the record's level (trace and debug as debug, info,
// warn as warning, error as err). The syslog copy is always text: syslog
// adds its own time stamp, so the record's time is left out there.
func NewWithSyslog(level string, json bool, w io.Writer, sys SyslogWriter) (*slog.Logger, error) {
	base, err := New(level, json, w)
	if err != nil {
		return nil, err
	}
	sh, err := NewSyslogHandler(level, sys)
	if err != nil {
		return nil, err
	}
	return slog.New(Fanout(base.Handler(), sh)), nil
}

// NewSyslogHandler returns the handler NewWithSyslog adds: records at
// level and above, as text lines without time stamp, to sys.
func NewSyslogHandler(level string, sys SyslogWriter) (slog.Handler, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	sh := &syslogHandler{sys: sys, mu: new(sync.Mutex), buf: new(bytes.Buffer)}
	sh.text = slog.NewTextHandler(sh.buf, &slog.HandlerOptions{Level: lvl, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
			return slog.Attr{}
		}
		return a
	}})
	return sh, nil
}

// syslogHandler formats a record as one text line and sends it to sys.
// The text handler writes into buf, which mu guards; handlers derived by
// WithAttrs share both.
type syslogHandler struct {
	sys  SyslogWriter
	text slog.Handler
	mu   *sync.Mutex
	buf  *bytes.Buffer
}

func (h *syslogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.text.Enabled(ctx, l)
}

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	line := strings.TrimSuffix(h.buf.String(), "\n")
	switch {
	case r.Level >= slog.LevelError:
		return h.sys.Err(line)
	case r.Level >= slog.LevelWarn:
		return h.sys.Warning(line)
	case r.Level >= slog.LevelInfo:
		return h.sys.Info(line)
	default:
		return h.sys.Debug(line)
	}
}

func (h *syslogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.text = h.text.WithAttrs(attrs)
	return &c
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.text = h.text.WithGroup(name)
	return &c
}
