package health

import (
	"fmt"
	"log/slog"
)

// Notifier receives the results of check runners. State implements it.
type Notifier interface {
	UpdateCheck(checkID, status, output string)
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(checkID, status, output string)

// UpdateCheck calls f.
func (f NotifierFunc) UpdateCheck(checkID, status, output string) { f(checkID, status, output) }

// statusHandler applies the thresholds of a check to its raw results before
// passing them on (Consul's StatusHandler): a passing or warning result is
// reported once SuccessBeforePassing consecutive successes were seen; a
// critical one turns the check warning after FailuresBeforeWarning and
// critical after FailuresBeforeCritical consecutive failures. The counters
// start at their thresholds so the first result applies at once. It is used
// by one runner goroutine only.
type statusHandler struct {
	checkID string
	inner   Notifier
	logger  *slog.Logger

	successBeforePassing   int
	successCounter         int
	failuresBeforeWarning  int
	failuresBeforeCritical int
	failuresCounter        int
}

func newStatusHandler(checkID string, inner Notifier, logger *slog.Logger, spec *CheckSpec) *statusHandler {
	return &statusHandler{
		checkID:                checkID,
		inner:                  inner,
		logger:                 logger,
		successBeforePassing:   spec.SuccessBeforePassing,
		successCounter:         spec.SuccessBeforePassing,
		failuresBeforeWarning:  spec.FailuresBeforeWarning,
		failuresBeforeCritical: spec.FailuresBeforeCritical,
		failuresCounter:        spec.FailuresBeforeCritical,
	}
}

func (s *statusHandler) update(status, output string) {
	if status == StatusPassing || status == StatusWarning {
		s.successCounter++
		s.failuresCounter = 0
		if s.successCounter >= s.successBeforePassing {
			s.inner.UpdateCheck(s.checkID, status, output)
			return
		}
		s.logger.Warn("check passed but has not reached success threshold", "check", s.checkID,
			"success_count", s.successCounter, "success_threshold", s.successBeforePassing)
		return
	}
	s.failuresCounter++
	s.successCounter = 0
	if s.failuresCounter >= s.failuresBeforeCritical {
		s.logger.Warn("check is now critical", "check", s.checkID)
		s.inner.UpdateCheck(s.checkID, status, output)
		return
	}
	if s.failuresCounter >= s.failuresBeforeWarning {
		s.logger.Warn("check is now warning", "check", s.checkID)
		s.inner.UpdateCheck(s.checkID, StatusWarning, output)
		return
	}
	s.logger.Warn("check failed but has not reached failure threshold", "check", s.checkID,
		"failure_count", s.failuresCounter, "failure_threshold", s.failuresBeforeCritical)
}

// tailBuffer is an io.Writer that keeps the last max bytes written and
// counts all of them (Consul's circbuf).
type tailBuffer struct {
	max   int
	buf   []byte
	total int64
}

func newTailBuffer(max int) *tailBuffer {
	return &tailBuffer{max: max, buf: make([]byte, 0, min(max, 512))}
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.total += int64(len(p))
	if len(p) >= b.max {
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		return len(p), nil
	}
	if drop := len(b.buf) + len(p) - b.max; drop > 0 {
		n := copy(b.buf, b.buf[drop:])
		b.buf = b.buf[:n]
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *tailBuffer) String() string { return string(b.buf) }

// truncated reports whether more was written than kept.
func (b *tailBuffer) truncated() bool { return b.total > int64(len(b.buf)) }

// truncateOutput caps output given through the API (TTL updates) to max
// bytes, as Consul's CheckTTL.SetStatus does.
func truncateOutput(output string, max int) string {
	if len(output) <= max {
		return output
	}
	return fmt.Sprintf("%s ... (captured %d of %d bytes)", output[:max], max, len(output))
}
