package agent

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/internal/clock"
)

// Bounds of the HTTP server that hold for every route.
const (
	// maxSnapshotBody bounds a snapshot restore's archive, the one body
	// larger than maxRequestBody.
	maxSnapshotBody = 4 << 30
	// refuseWriteTimeout bounds the write of a refused connection's 429.
	refuseWriteTimeout = time.Second
)

// connLimitListener refuses a connection from an IP that already holds
// max open connections: it writes a 429 answer and closes it, without
// handing it to the HTTP server. Refusals are logged at most once per
// refusalLogInterval with how many there were, so a flood of connections
// cannot flood the log too.
type connLimitListener struct {
	net.Listener
	max int
	log *slog.Logger

	mu    sync.Mutex
	perIP map[string]int
	// refused counts refusals not logged yet; loggedAt is the last log.
	refused  int
	loggedAt time.Time
}

// refusalLogInterval spaces the refusal warnings.
const refusalLogInterval = 10 * time.Second

func newConnLimitListener(ln net.Listener, max int, log *slog.Logger) *connLimitListener {
	return &connLimitListener{Listener: ln, max: max, log: log, perIP: map[string]int{}}
}

// connLimitAnswer is the whole answer to a connection over the limit.
const connLimitAnswer = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 42\r\n\r\nToo many open connections from your addr\r\n"

// Accept returns the next connection within the limit.
func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		l.mu.Lock()
		n := l.perIP[ip]
		if n >= l.max {
			l.refused++
			refused, now := l.refused, time.Now()
			logIt := now.Sub(l.loggedAt) >= refusalLogInterval
			if logIt {
				l.refused, l.loggedAt = 0, now
			}
			l.mu.Unlock()
			if logIt {
				l.log.Warn("http: connections refused, too many from one address", "client", ip, "limit", l.max,
					"refused", refused, "log_interval", refusalLogInterval)
			}
			c.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
			c.Write([]byte(connLimitAnswer))
			c.Close()
			continue
		}
		l.perIP[ip] = n + 1
		l.mu.Unlock()
		return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *connLimitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP[ip] <= 1 {
		delete(l.perIP, ip)
		return
	}
	l.perIP[ip]--
}

// open is the number of connections ip holds.
func (l *connLimitListener) open(ip string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.perIP[ip]
}

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// limitedConn gives its slot back on its first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// tokenBucket allows rate events a second with a burst of as many (at
// least one); it reads time from a clock.
type tokenBucket struct {
	clk   clock.Clock
	rate  float64
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newTokenBucket(clk clock.Clock, rate float64) *tokenBucket {
	burst := max(rate, 1)
	return &tokenBucket{clk: clk, rate: rate, burst: burst, tokens: burst, last: clk.Now()}
}

// allow takes one token if there is one.
func (b *tokenBucket) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clk.Now()
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(b.burst, b.tokens+dt.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// rateLimiter applies limits.request_limits to the HTTP API: reads (GET,
// HEAD) and writes have a bucket each; a nil bucket is unlimited.
type rateLimiter struct {
	mode        string
	read, write *tokenBucket
	log         *slog.Logger
}

func newRateLimiter(cfg config.RequestLimits, clk clock.Clock, log *slog.Logger) *rateLimiter {
	rl := &rateLimiter{mode: cfg.Mode, log: log}
	if cfg.Mode == config.RateLimitDisabled || cfg.Mode == "" {
		return rl
	}
	if cfg.ReadRate > 0 {
		rl.read = newTokenBucket(clk, cfg.ReadRate)
	}
	if cfg.WriteRate > 0 {
		rl.write = newTokenBucket(clk, cfg.WriteRate)
	}
	return rl
}

// admit reports whether r may be served; when not, it has answered r:
// a read 429, a write 503, as Consul does.
func (rl *rateLimiter) admit(w http.ResponseWriter, r *http.Request) bool {
	if rl.read == nil && rl.write == nil {
		return true
	}
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	b := rl.write
	if read {
		b = rl.read
	}
	if b == nil || b.allow() {
		return true
	}
	if rl.mode != config.RateLimitEnforcing {
		rl.log.Warn("http: request over the rate limit (permissive mode: served)", "method", r.Method, "path", r.URL.Path)
		return true
	}
	if read {
		http.Error(w, "rate limit exceeded, try again later or against a different server", http.StatusTooManyRequests)
	} else {
		http.Error(w, "rate limit exceeded, try again later", http.StatusServiceUnavailable)
	}
	return false
}

// checkKVKey refuses a KV key with a ".." path segment or a control
// character (Consul's disable_kv_key_validation turns this off).
func checkKVKey(key string) error {
	for _, c := range key {
		if c < 0x20 || c == 0x7f {
			return badRequest("Invalid key %q: keys must not contain control characters", key)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == ".." {
			return badRequest("Invalid key %q: keys must not contain a \"..\" path segment", key)
		}
	}
	return nil
}

// bodyLimit is the most bytes any handler may read from r's body: the
// snapshot restore's own bound, or the largest of the per-route bounds.
func (a *Agent) bodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPut && r.URL.Path == "/v1/snapshot" {
		return maxSnapshotBody
	}
	return int64(max(maxJSONBody, maxEventPayload, a.cfg.Limits.KVMaxValueSize, a.cfg.Limits.TxnMaxReqLen))
}

// isTimeout reports whether err is a read deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
