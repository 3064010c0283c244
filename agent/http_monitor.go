package agent

import (
	"fmt"
	"net/http"
	"time"

	"github.com/meridian-io/meridian/internal/logging"
	"github.com/meridian-io/meridian/rpc"
)

// monitorBuffer is how many lines a monitor stream holds for a client
// that reads slower than the agent logs; beyond it lines are dropped (the
// agent never waits for a monitor) and the stream says how many.
const monitorBuffer = 512

// agentMonitor serves /v1/agent/monitor as Consul does: the agent's log
// lines at ?loglevel (default info) and above, as text or, with ?logjson,
// one JSON object a line, streamed until the client goes away or the
// agent shuts down. Lines a slow client missed are replaced by one line
// saying how many were dropped.
func (a *Agent) agentMonitor(w http.ResponseWriter, r *http.Request) (any, error) {
	q := query(r)
	name := q.Get("loglevel")
	if name == "" {
		name = "info"
	}
	level, err := logging.ParseLevel(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", rpc.ErrBadRequest, err)
	}
	_, asJSON := q["logjson"]
	mon := a.monitors.Attach(level, asJSON, monitorBuffer)
	defer mon.Close()

	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		// The stream then ends at the server's write timeout.
		a.log.Warn("monitor: cannot lift the write deadline", "error", err)
	}
	if asJSON {
		w.Header().Set("Content-Type", "application/x-ndjson")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil, nil
	}
	for {
		select {
		case <-r.Context().Done():
			return nil, nil
		case <-a.ctx.Done():
			return nil, nil
		case line := <-mon.Lines():
			if n := mon.Dropped(); n > 0 {
				if _, err := w.Write(droppedLine(n, asJSON)); err != nil {
					return nil, nil
				}
			}
			if _, err := w.Write(line); err != nil {
				return nil, nil
			}
			// Write what else is waiting before the flush.
			for more := true; more; {
				select {
				case line := <-mon.Lines():
					if _, err := w.Write(line); err != nil {
						return nil, nil
					}
				default:
					more = false
				}
			}
			if err := rc.Flush(); err != nil {
				return nil, nil
			}
		}
	}
}

// droppedLine is the line that stands for n lines a monitor dropped.
func droppedLine(n uint64, asJSON bool) []byte {
	now := time.Now().Format(time.RFC3339Nano)
	msg := fmt.Sprintf("Monitor dropped %d logs during monitor request", n)
	if asJSON {
		return fmt.Appendf(nil, "{\"time\":%q,\"level\":\"WARN\",\"msg\":%q,\"dropped\":%d}\n", now, msg, n)
	}
	return fmt.Appendf(nil, "time=%s level=WARN msg=%q dropped=%d\n", now, msg, n)
}
