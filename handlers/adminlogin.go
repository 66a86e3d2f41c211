package handlers

import (
	"sync"
	"time"

	"github.com/sockbus/sockbus/wsedge"
)

// Login limits: a bcrypt comparison costs tens of milliseconds of CPU, so
// failed logins are what an attacker would repeat to burn the node's CPU.
// Failures are counted per client address and in all over a fixed window;
// past either limit a login is refused before bcrypt runs. Comparisons run
// at most LoginConcurrency at a time; a login that cannot start one within
// LoginWait is refused. A connection that fails MaxLoginFailuresPerConn
// times, or is refused for a limit, is closed after its connect_error.

// Refusals without a password check (the UI shows their message).
var (
	errLoginLimited = &wsedge.ConnectError{Message: "too many failed logins, retry later", Status: 429, Close: true}
	errLoginBusy    = &wsedge.ConnectError{Message: "login busy, retry later", Status: 503}
)

// loginGuard counts failed logins and bounds concurrent comparisons. Its
// maps hold only addresses and connections that failed a comparison in the
// current window, so they never outgrow MaxLoginFailures.
type loginGuard struct {
	perAddress, total, perConn int
	window, wait               time.Duration
	sem                        chan struct{}

	mu     sync.Mutex
	start  time.Time      // of the current window
	failed int            // comparisons failed in the window
	byAddr map[string]int // address → failures in the window
	byConn map[string]int // Engine.IO connection → failures in the window
}

func newLoginGuard(c AdminConfig) *loginGuard {
	return &loginGuard{
		perAddress: c.MaxLoginFailuresPerAddress, total: c.MaxLoginFailures, perConn: c.MaxLoginFailuresPerConn,
		window: c.LoginWindow, wait: c.LoginWait,
		sem:   make(chan struct{}, c.LoginConcurrency),
		start: time.Now(), byAddr: map[string]int{}, byConn: map[string]int{},
	}
}

// rollLocked starts a new window when the current one is over.
func (g *loginGuard) rollLocked(now time.Time) {
	if now.Sub(g.start) >= g.window {
		g.start, g.failed = now, 0
		clear(g.byAddr)
		clear(g.byConn)
	}
}

// admit reports whether a login from addr on conn may run a comparison
// now (a connection past its failures is being closed: CONNECTs it sent
// meanwhile get no comparison either).
func (g *loginGuard) admit(addr, conn string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rollLocked(time.Now())
	return g.failed < g.total && g.byAddr[addr] < g.perAddress && g.byConn[conn] < g.perConn
}

// acquire takes a comparison slot, waiting at most the guard's wait.
func (g *loginGuard) acquire() bool {
	select {
	case g.sem <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.sem <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

func (g *loginGuard) release() { <-g.sem }

// fail counts a failed comparison; it reports whether the connection has
// failed often enough to be closed.
func (g *loginGuard) fail(addr, conn string) (closeConn bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rollLocked(time.Now())
	g.failed++
	g.byAddr[addr]++
	g.byConn[conn]++
	return g.byConn[conn] >= g.perConn
}
