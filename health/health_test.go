package health

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockbus/sockbus/internal/eventually"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(h http.HandlerFunc) (int, string) {
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

func TestPhasesAndReadiness(t *testing.T) {
	h := New(Config{Interval: 10 * time.Millisecond})
	defer h.Close()
	if code, body := get(h.ServeLive); code != 503 || body != "starting" {
		t.Fatalf("healthz while starting: %d %q", code, body)
	}
	if code, _ := get(h.ServeReady); code != 503 {
		t.Fatalf("readyz while starting: %d", code)
	}

	var broken atomic.Bool
	broken.Store(true)
	h.Up(func(context.Context) error {
		if broken.Load() {
			return errors.New("no quorum")
		}
		return nil
	})
	if code, _ := get(h.ServeLive); code != 200 {
		t.Fatalf("healthz when up: %d", code)
	}
	if code, body := get(h.ServeReady); code != 503 || !strings.Contains(body, "no quorum") {
		t.Fatalf("readyz with a failing check: %d %q", code, body)
	}
	broken.Store(false)
	eventually.True(t, 2*time.Second, "readyz 200 once the check passes", func() bool {
		code, _ := get(h.ServeReady)
		return code == 200
	})
	broken.Store(true)
	eventually.True(t, 2*time.Second, "readyz 503 once the check fails again", func() bool {
		code, _ := get(h.ServeReady)
		return code == 503
	})

	h.Stopping()
	if code, body := get(h.ServeLive); code != 503 || body != "shutting down" {
		t.Fatalf("healthz while stopping: %d %q", code, body)
	}
	if code, _ := get(h.ServeReady); code != 503 {
		t.Fatalf("readyz while stopping: %d", code)
	}
}

// A check that hangs is cut at Timeout and counts as a failure.
func TestCheckTimeout(t *testing.T) {
	h := New(Config{Interval: time.Hour, Timeout: 20 * time.Millisecond})
	defer h.Close()
	h.Up(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	if code, body := get(h.ServeReady); code != 503 || !strings.Contains(body, "deadline") {
		t.Fatalf("readyz after a hung check: %d %q", code, body)
	}
}

// A failing Live check turns /healthz to 503 while it fails, so that a
// supervisor restarts a node that lost its bus for good.
func TestLiveCheck(t *testing.T) {
	h := New(Config{Interval: time.Hour})
	defer h.Close()
	var lost atomic.Bool
	h.Live(func() error {
		if lost.Load() {
			return errors.New("bus lost")
		}
		return nil
	})
	h.Up(func(context.Context) error { return nil })
	if code, _ := get(h.ServeLive); code != 200 {
		t.Fatalf("healthz with a passing live check: %d", code)
	}
	lost.Store(true)
	if code, body := get(h.ServeLive); code != 503 || !strings.Contains(body, "bus lost") {
		t.Fatalf("healthz with a failing live check: %d %q", code, body)
	}
	lost.Store(false)
	if code, _ := get(h.ServeLive); code != 200 {
		t.Fatalf("healthz once the live check passes again: %d", code)
	}
}
