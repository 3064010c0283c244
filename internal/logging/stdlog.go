package logging

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"regexp"
	"strings"
)

// StdLogger returns a *log.Logger for libraries that log through the standard
// library (memberlist, serf). Each line such as
//
//	2024/01/01 00:00:00 [DEBUG] memberlist: Stream connection from=...
//
// becomes one slog record: the optional timestamp is dropped, the [LEVEL]
// marker picks the level (TRACE, DEBUG, INFO, WARN, WARNING, ERR, ERROR;
// Info when there is none) and a leading "subsystem: " prefix becomes the
// KeyLogger attribute.
func StdLogger(l *slog.Logger) *log.Logger {
	w := &lineWriter{
		emit: func(level slog.Level, msg string, attrs ...slog.Attr) {
			l.LogAttrs(context.Background(), level, msg, attrs...)
		},
		enabled:   func(level slog.Level) bool { return enabled(l, level) },
		infer:     true,
		trimTime:  true,
		subsystem: true,
	}
	return log.New(w, "", 0)
}

// lineWriter is an io.Writer that turns each write (one log line) into a
// slog record.
type lineWriter struct {
	emit    func(level slog.Level, msg string, attrs ...slog.Attr)
	enabled func(level slog.Level) bool
	// infer parses a [LEVEL] marker; without it every line is Info.
	infer bool
	// force, when forced is set, replaces the level (the marker is still
	// stripped).
	force  slog.Level
	forced bool
	// trimTime strips a leading timestamp before looking for the marker.
	trimTime bool
	// subsystem splits a leading "name: " into the KeyLogger attribute.
	subsystem bool
}

// timestampRE matches the standard library's date/time prefixes
// (log.LstdFlags, with optional microseconds) and an RFC 3339 stamp.
var timestampRE = regexp.MustCompile(
	`^(?:\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?|\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)\s+`)

// subsystemRE matches a short lower-case "subsystem: " prefix.
var subsystemRE = regexp.MustCompile(`^([a-z][a-z0-9_.-]{0,31}): `)

// levelMarkers maps the bracketed markers of the hashicorp convention to
// slog levels.
var levelMarkers = []struct {
	marker string
	level  slog.Level
}{
	{"[TRACE]", LevelTrace},
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[WARNING]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

// Write implements io.Writer. It always consumes the whole buffer.
func (w *lineWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, " \t\r\n"))
	level, msg, attrs := w.parse(line)
	if msg != "" && w.enabled(level) {
		w.emit(level, msg, attrs...)
	}
	return len(p), nil
}

// parse splits a line into level, message and attributes.
func (w *lineWriter) parse(line string) (slog.Level, string, []slog.Attr) {
	if w.trimTime {
		if loc := timestampRE.FindStringIndex(line); loc != nil {
			line = line[loc[1]:]
		}
	}
	level := slog.LevelInfo
	if w.infer || w.forced {
		if lvl, rest, ok := splitMarker(line); ok {
			level, line = lvl, rest
		}
	}
	if w.forced {
		level = w.force
	}
	var attrs []slog.Attr
	if w.subsystem {
		if m := subsystemRE.FindStringSubmatch(line); m != nil {
			attrs = append(attrs, slog.String(KeyLogger, m[1]))
			line = line[len(m[0]):]
		}
	}
	return level, strings.TrimSpace(line), attrs
}

// splitMarker strips a leading [LEVEL] marker and reports its level.
func splitMarker(line string) (slog.Level, string, bool) {
	if !strings.HasPrefix(line, "[") {
		return 0, line, false
	}
	for _, lm := range levelMarkers {
		if rest, ok := strings.CutPrefix(line, lm.marker); ok {
			return lm.level, strings.TrimLeft(rest, " "), true
		}
	}
	return 0, line, false
}
