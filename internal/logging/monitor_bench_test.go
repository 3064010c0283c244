package logging

import (
	"io"
	"log/slog"
	"testing"
)

// BenchmarkLogInfo measures an info line to a text handler: alone, with
// the monitor handler attached but no monitor, and with one debug monitor
// that never reads (every line formatted again and dropped).
func BenchmarkLogInfo(b *testing.B) {
	plain, _ := New("info", false, io.Discard)
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			plain.Info("request", "method", "GET", "path", "/v1/kv/x", "code", 200)
		}
	})
	mons := NewMonitors()
	withMons := slog.New(Fanout(plain.Handler(), mons.Handler()))
	b.Run("no-monitor", func(b *testing.B) {
		for b.Loop() {
			withMons.Info("request", "method", "GET", "path", "/v1/kv/x", "code", 200)
		}
	})
	b.Run("debug-below-level-no-monitor", func(b *testing.B) {
		for b.Loop() {
			withMons.Debug("request", "method", "GET", "path", "/v1/kv/x", "code", 200)
		}
	})
	m := mons.Attach(slog.LevelDebug, false, 1)
	defer m.Close()
	b.Run("stalled-monitor", func(b *testing.B) {
		for b.Loop() {
			withMons.Info("request", "method", "GET", "path", "/v1/kv/x", "code", 200)
		}
	})
}
