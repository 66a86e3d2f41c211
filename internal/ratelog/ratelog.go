package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultEvery is the interval used when New is given none.
const DefaultEvery = 10 * time.Second

// Logger rate-limits records per message text. A nil *Logger drops every
// record. All methods are safe for concurrent use.
type Logger struct {
	l     *slog.Logger
	every time.Duration
	now   func() time.Time // time.Now; tests move it

	mu    sync.Mutex
	state map[string]*entry // by message; messages are constants, so the map stays small
}

type entry struct {
	next       time.Time
	suppressed int
}

// New returns a Logger writing to l at most once per every for each
// message (every <= 0: DefaultEvery; l nil: slog.Default()).
func New(l *slog.Logger, every time.Duration) *Logger {
	if l == nil {
		l = slog.Default()
	}
	if every <= 0 {
		every = DefaultEvery
	}
	return &Logger{l: l, every: every, now: time.Now, state: map[string]*entry{}}
}

// Warn logs msg at warn level unless msg was logged less than the interval
// ago; it then only counts it.
func (r *Logger) Warn(msg string, args ...any) { r.log(slog.LevelWarn, msg, args) }

// Error is Warn at error level.
func (r *Logger) Error(msg string, args ...any) { r.log(slog.LevelError, msg, args) }

func (r *Logger) log(level slog.Level, msg string, args []any) {
	if r == nil || !r.l.Enabled(context.Background(), level) {
		return
	}
	now := r.now()
	r.mu.Lock()
	e := r.state[msg]
	if e == nil {
		e = &entry{}
		r.state[msg] = e
	}
	if now.Before(e.next) {
		e.suppressed++
		r.mu.Unlock()
		return
	}
	suppressed := e.suppressed
	e.next, e.suppressed = now.Add(r.every), 0
	r.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	r.l.Log(context.Background(), level, msg, args...)
}
