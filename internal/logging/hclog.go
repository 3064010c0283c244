package logging

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// levelOff stands for hclog.Off in slog terms; records at this level are
// never emitted.
const levelOff = slog.Level(1 << 30)

// HCLog returns an hclog.Logger (for raft, yamux and other hashicorp
// libraries) that writes through l. A non-empty name is emitted as the
// KeyLogger attribute; Named appends ".name" to it as hclog does. Levels map
// Trace→LevelTrace, Debug, Info, Warn, Error to their slog counterparts.
// The slog handler decides what is emitted; SetLevel can only raise the bar
// further, and is shared with the loggers derived by With and Named.
func HCLog(l *slog.Logger, name string) hclog.Logger {
	if l == nil {
		l = Discard()
	}
	return &hcLogger{base: l, name: name, level: new(atomic.Int32)}
}

// hcLogger implements hclog.Logger on top of a *slog.Logger.
type hcLogger struct {
	base    *slog.Logger
	name    string
	implied []slog.Attr
	// level is the hclog.Level given to SetLevel; hclog.NoLevel leaves the
	// decision to the slog handler.
	level *atomic.Int32
}

var _ hclog.Logger = (*hcLogger)(nil)

// slogLevel maps an hclog level to a slog level.
func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return LevelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	case hclog.Off:
		return levelOff
	default: // Info and NoLevel
		return slog.LevelInfo
	}
}

// enabledAt reports whether a record at level would be emitted.
func (l *hcLogger) enabledAt(level slog.Level) bool {
	if level >= levelOff {
		return false
	}
	if set := hclog.Level(l.level.Load()); set != hclog.NoLevel && level < slogLevel(set) {
		return false
	}
	return enabled(l.base, level)
}

// emit writes one record; pc is the caller's program counter (0 if unknown).
func (l *hcLogger) emit(level slog.Level, msg string, pc uintptr, extra []slog.Attr, args []any) {
	r := slog.NewRecord(time.Now(), level, msg, pc)
	if l.name != "" {
		r.AddAttrs(slog.String(KeyLogger, l.name))
	}
	r.AddAttrs(l.implied...)
	r.AddAttrs(extra...)
	r.AddAttrs(argsToAttrs(args)...)
	_ = l.base.Handler().Handle(context.Background(), r)
}

// logAt is called directly by the exported level methods so that the
// recorded source is their caller.
func (l *hcLogger) logAt(level slog.Level, msg string, args []any) {
	if !l.enabledAt(level) {
		return
	}
	var pcs [1]uintptr
	runtime.Callers(3, pcs[:]) // runtime.Callers, logAt, the exported method
	l.emit(level, msg, pcs[0], nil, args)
}

// Log emits msg at level with key/value args.
func (l *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	l.logAt(slogLevel(level), msg, args)
}

// Trace emits msg at LevelTrace.
func (l *hcLogger) Trace(msg string, args ...any) { l.logAt(LevelTrace, msg, args) }

// Debug emits msg at slog.LevelDebug.
func (l *hcLogger) Debug(msg string, args ...any) { l.logAt(slog.LevelDebug, msg, args) }

// Info emits msg at slog.LevelInfo.
func (l *hcLogger) Info(msg string, args ...any) { l.logAt(slog.LevelInfo, msg, args) }

// Warn emits msg at slog.LevelWarn.
func (l *hcLogger) Warn(msg string, args ...any) { l.logAt(slog.LevelWarn, msg, args) }

// Error emits msg at slog.LevelError.
func (l *hcLogger) Error(msg string, args ...any) { l.logAt(slog.LevelError, msg, args) }

// IsTrace reports whether Trace records are emitted.
func (l *hcLogger) IsTrace() bool { return l.enabledAt(LevelTrace) }

// IsDebug reports whether Debug records are emitted.
func (l *hcLogger) IsDebug() bool { return l.enabledAt(slog.LevelDebug) }

// IsInfo reports whether Info records are emitted.
func (l *hcLogger) IsInfo() bool { return l.enabledAt(slog.LevelInfo) }

// IsWarn reports whether Warn records are emitted.
func (l *hcLogger) IsWarn() bool { return l.enabledAt(slog.LevelWarn) }

// IsError reports whether Error records are emitted.
func (l *hcLogger) IsError() bool { return l.enabledAt(slog.LevelError) }

// ImpliedArgs returns the key/value pairs added by With.
func (l *hcLogger) ImpliedArgs() []any {
	out := make([]any, 0, 2*len(l.implied))
	for _, a := range l.implied {
		out = append(out, a.Key, a.Value.Any())
	}
	return out
}

// With returns a logger that adds args to every record; a repeated key
// replaces the earlier value.
func (l *hcLogger) With(args ...any) hclog.Logger {
	c := l.clone()
	for _, a := range argsToAttrs(args) {
		replaced := false
		for i := range c.implied {
			if c.implied[i].Key == a.Key {
				c.implied[i], replaced = a, true
				break
			}
		}
		if !replaced {
			c.implied = append(c.implied, a)
		}
	}
	return c
}

// Name returns the logger's name ("" if none).
func (l *hcLogger) Name() string { return l.name }

// Named returns a logger whose name is this one's with ".name" appended.
func (l *hcLogger) Named(name string) hclog.Logger {
	c := l.clone()
	if c.name != "" && name != "" {
		c.name += "." + name
	} else if name != "" {
		c.name = name
	}
	return c
}

// ResetNamed returns a logger named exactly name.
func (l *hcLogger) ResetNamed(name string) hclog.Logger {
	c := l.clone()
	c.name = name
	return c
}

// SetLevel sets a minimum level on this logger and those derived from it
// (hclog.NoLevel removes it). It cannot lower the slog handler's own level.
func (l *hcLogger) SetLevel(level hclog.Level) { l.level.Store(int32(level)) }

// GetLevel returns the level set by SetLevel, or else the lowest hclog level
// the slog handler emits (hclog.Off if none).
func (l *hcLogger) GetLevel() hclog.Level {
	if set := hclog.Level(l.level.Load()); set != hclog.NoLevel {
		return set
	}
	for lvl := hclog.Trace; lvl <= hclog.Error; lvl++ {
		if enabled(l.base, slogLevel(lvl)) {
			return lvl
		}
	}
	return hclog.Off
}

// StandardLogger returns a *log.Logger writing through StandardWriter.
func (l *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

// StandardWriter returns a writer that turns each written line into a record
// of this logger, following opts as hclog does: ForceLevel fixes the level,
// InferLevels reads a [LEVEL] marker (after a timestamp with
// InferLevelsWithTimestamp), and otherwise every line is Info.
func (l *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	if opts == nil {
		opts = &hclog.StandardLoggerOptions{}
	}
	return &lineWriter{
		emit: func(level slog.Level, msg string, attrs ...slog.Attr) {
			l.emit(level, msg, 0, attrs, nil)
		},
		enabled:  l.enabledAt,
		infer:    opts.InferLevels,
		trimTime: opts.InferLevels && opts.InferLevelsWithTimestamp,
		forced:   opts.ForceLevel != hclog.NoLevel,
		force:    slogLevel(opts.ForceLevel),
	}
}

func (l *hcLogger) clone() *hcLogger {
	c := *l
	c.implied = append([]slog.Attr(nil), l.implied...)
	return &c
}

// argsToAttrs turns hclog's alternating key/value args into slog attributes,
// rendering hclog's formatting types (Format, Hex, Octal, Binary, Quote) as
// hclog would. A dangling last value is kept under "EXTRA_VALUE_AT_END".
func argsToAttrs(args []any) []slog.Attr {
	if len(args) == 0 {
		return nil
	}
	attrs := make([]slog.Attr, 0, (len(args)+1)/2)
	for i := 0; i+1 < len(args); i += 2 {
		key, ok := args[i].(string)
		if !ok {
			key = fmt.Sprint(args[i])
		}
		attrs = append(attrs, slog.Any(key, hclogValue(args[i+1])))
	}
	if len(args)%2 == 1 {
		last := args[len(args)-1]
		if st, ok := last.(hclog.CapturedStacktrace); ok {
			attrs = append(attrs, slog.String("stacktrace", string(st)))
		} else {
			attrs = append(attrs, slog.Any("EXTRA_VALUE_AT_END", hclogValue(last)))
		}
	}
	return attrs
}

// hclogValue renders hclog's formatting helper types; other values pass
// through unchanged.
func hclogValue(v any) any {
	switch v := v.(type) {
	case hclog.Format:
		if len(v) == 0 {
			return ""
		}
		if f, ok := v[0].(string); ok {
			return fmt.Sprintf(f, v[1:]...)
		}
		return fmt.Sprint(v...)
	case hclog.Hex:
		return "0x" + strconv.FormatInt(int64(v), 16)
	case hclog.Octal:
		return "0" + strconv.FormatInt(int64(v), 8)
	case hclog.Binary:
		return "0b" + strconv.FormatInt(int64(v), 2)
	case hclog.Quote:
		return strconv.Quote(string(v))
	default:
		return v
	}
}
