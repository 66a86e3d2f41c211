package testutil

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
)

// StartBus starts an embedded bus on a temp dir (unless cfg names one) and
// closes it when the test ends.
func StartBus(t testing.TB, cfg bus.Config) *bus.Bus {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	b, err := bus.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("close bus: %v", err)
		}
	})
	return b
}

// Serve serves h on 127.0.0.1:0 and returns its address (host:port). When
// the test ends, closeFirst (the handler's own shutdown, if any) runs, then
// the HTTP server closes. Register it after StartBus so it stops first.
func Serve(t testing.TB, h http.Handler, closeFirst func(context.Context) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	hs.Start()
	t.Cleanup(func() {
		if closeFirst != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := closeFirst(ctx); err != nil {
				t.Errorf("close handler: %v", err)
			}
		}
		hs.Close()
	})
	return ln.Addr().String()
}
