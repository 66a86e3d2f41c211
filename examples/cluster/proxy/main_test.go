package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/sockbus/sockbus/wsedge/engine"
)

// upgrade sends a WebSocket upgrade with a browser's Origin header through
// the proxy at base and returns the status.
func upgrade(t *testing.T, base, origin string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Origin", origin)
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A page served through the proxy opens its WebSocket with the proxy's
// origin: sockbus's same-origin check must see the proxy's Host, so the
// proxy keeps it. Another site's origin is still refused.
func TestBrowserWebSocketThroughProxy(t *testing.T) {
	eio := engine.NewServer(engine.Config{}, nil)
	node := httptest.NewServer(eio)
	t.Cleanup(func() {
		node.Close()
		_ = eio.Close(context.Background())
	})
	u, _ := url.Parse(node.URL)
	b := &backend{url: u}
	b.ready.Store(true)
	proxy := httptest.NewServer(newProxy(&balancer{backends: []*backend{b}}))
	t.Cleanup(proxy.Close)

	if code := upgrade(t, proxy.URL, proxy.URL); code != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade from the proxy's own origin: %d, want 101", code)
	}
	if code := upgrade(t, proxy.URL, "http://evil.example"); code != http.StatusForbidden {
		t.Fatalf("upgrade from another origin: %d, want 403", code)
	}
}
