package agent

import (
	"io"
	"log"
	"log/slog"
	"net/http"

	"github.com/meridian-io/meridian/internal/logging"
)

func readAllLimited(r *http.Request, n int) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, int64(n)))
}

func slogStdLogger(l *slog.Logger) *log.Logger { return logging.StdLogger(l) }
