package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// LevelTrace is the slog level used for hclog's Trace and for "trace" in
// configuration; it is below slog.LevelDebug.
const LevelTrace = slog.Level(-8)

// KeyLogger is the attribute key that carries a logger's name (hclog's
// Named) or a standard-library line's subsystem prefix ("memberlist").
const KeyLogger = "logger"

// ErrBadLevel is returned for a log level name that is not one of
// trace, debug, info, warn or error.
var ErrBadLevel = errors.New("unknown log level")

// ParseLevel maps a level name (trace, debug, info, warn, error; case and
// surrounding space ignored) to a slog level.
func ParseLevel(name string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "trace":
		return LevelTrace, nil
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	default:
		return 0, fmt.Errorf("%w %q (want trace, debug, info, warn or error)", ErrBadLevel, name)
	}
}

// New builds the agent's logger: text (or JSON when json is true) written to
// w (os.Stderr when nil), dropping records below level. LevelTrace records
// are labelled "TRACE" rather than slog's "DEBUG-4".
func New(level string, json bool, w io.Writer) (*slog.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	if w == nil {
		w = os.Stderr
	}
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: replaceLevel}
	var h slog.Handler
	if json {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h), nil
}

// replaceLevel names LevelTrace "TRACE" in the output.
func replaceLevel(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.LevelKey {
		if lvl, ok := a.Value.Any().(slog.Level); ok && lvl <= LevelTrace {
			a.Value = slog.StringValue("TRACE")
		}
	}
	return a
}

// Discard returns a logger that drops every record.
func Discard() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// enabled reports whether l would emit a record at level.
func enabled(l *slog.Logger, level slog.Level) bool {
	return l.Handler().Enabled(context.Background(), level)
}
