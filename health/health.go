package health

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Health. The zero value works.
type Config struct {
	// Interval is how often readiness is checked. Default 2s.
	Interval time.Duration
	// Timeout bounds one check. Default 1s.
	Timeout time.Duration
	// Logger is told when readiness changes. Default slog.Default().
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultInterval = 2 * time.Second
	DefaultTimeout  = time.Second
)

type phase int32

const (
	starting phase = iota
	up
	stopping
)

// Health serves /healthz and /readyz. All methods are safe for concurrent
// use; the readiness check runs on a goroutine of its own between Up and
// Stopping (or Close).
type Health struct {
	cfg   Config
	phase atomic.Int32
	ready atomic.Bool
	why   atomic.Pointer[string] // why not ready
	live  atomic.Pointer[func() error]

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Health in the starting phase: not alive, not ready.
func New(cfg Config) *Health {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Health{cfg: cfg}
	h.setWhy("starting")
	return h
}

// Up marks the node alive and starts checking readiness with check, which
// returns nil when the node can store events. The first check runs before
// Up returns, so a node is ready as soon as it can be.
func (h *Health) Up(check func(context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if phase(h.phase.Load()) != starting {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan struct{})
	h.run(ctx, check)
	h.phase.Store(int32(up))
	go func() {
		defer close(h.done)
		t := time.NewTicker(h.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				h.run(ctx, check)
			}
		}
	}()
}

func (h *Health) run(ctx context.Context, check func(context.Context) error) {
	cctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	err := check(cctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	was := h.ready.Load()
	if err != nil {
		h.setWhy(err.Error())
		h.ready.Store(false)
		if was {
			h.cfg.Logger.Warn("not ready: cannot store events", "err", err)
		}
		return
	}
	h.ready.Store(true)
	if !was && phase(h.phase.Load()) == up {
		h.cfg.Logger.Info("ready again")
	}
}

func (h *Health) setWhy(s string) { h.why.Store(&s) }

// Stopping marks the node as shutting down: both endpoints answer 503 from
// now on. It stops the checks; it is idempotent.
func (h *Health) Stopping() {
	h.phase.Store(int32(stopping))
	h.ready.Store(false)
	h.setWhy("shutting down")
	h.Close()
}

// Close stops the checks and waits for them. It is idempotent.
func (h *Health) Close() {
	h.mu.Lock()
	cancel, done := h.cancel, h.done
	h.cancel = nil
	h.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Live makes /healthz answer 503 while live returns an error (the node
// lost what it cannot serve without, and will not get it back by itself):
// a supervisor then restarts the process. live must be cheap; it runs on
// every request.
func (h *Health) Live(live func() error) { h.live.Store(&live) }

// ServeLive answers /healthz: 200 "ok" while up, 503 while starting or
// shutting down, or while the Live check fails.
func (h *Health) ServeLive(w http.ResponseWriter, _ *http.Request) {
	switch phase(h.phase.Load()) {
	case up:
		if live := h.live.Load(); live != nil {
			if err := (*live)(); err != nil {
				write(w, http.StatusServiceUnavailable, "not alive: "+err.Error())
				return
			}
		}
		write(w, http.StatusOK, "ok")
	case starting:
		write(w, http.StatusServiceUnavailable, "starting")
	default:
		write(w, http.StatusServiceUnavailable, "shutting down")
	}
}

// ServeReady answers /readyz: 200 "ready" while the last check succeeded,
// else 503 with the reason.
func (h *Health) ServeReady(w http.ResponseWriter, _ *http.Request) {
	if phase(h.phase.Load()) == up && h.ready.Load() {
		write(w, http.StatusOK, "ready")
		return
	}
	write(w, http.StatusServiceUnavailable, "not ready: "+*h.why.Load())
}

func write(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body + "\n"))
}
