package engine

import (
	"context"
	"errors"
	"github.com/sockbus/sockbus/internal/eventually"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

func TestHTTPErrors(t *testing.T) {
	e := newEnv(t, Config{AllowRequest: func(r *http.Request) error {
		if r.URL.Query().Get("deny") != "" {
			return errors.New("go away")
		}
		return nil
	}}, false)
	sid, _ := e.handshake()
	tests := []struct {
		method, query string
		status        int
		body          string
	}{
		{"GET", "EIO=4", 400, `{"code":0,"message":"Transport unknown"}`},
		{"GET", "EIO=4&transport=abc", 400, `{"code":0,"message":"Transport unknown"}`},
		{"GET", "transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"GET", "EIO=abc&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"GET", "EIO=3&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"POST", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"PUT", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"OPTIONS", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"GET", "EIO=4&transport=polling&sid=unknown", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"GET", "EIO=4&transport=websocket", 400, `{"code":3,"message":"Bad request"}`},
		{"GET", "EIO=4&transport=websocket&sid=" + sid, 400, `{"code":3,"message":"Bad request"}`},
		{"PUT", "EIO=4&transport=polling&sid=" + sid, 400, `{"code":3,"message":"Bad request"}`},
		{"GET", "EIO=4&transport=polling&deny=1", 403, `{"code":4,"message":"go away"}`},
	}
	for _, tt := range tests {
		code, body, hdr := e.do(tt.method, e.url(tt.query), "")
		if code != tt.status || body != tt.body || hdr.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %q (%s), want %d %q", tt.method, tt.query, code, body, hdr.Get("Content-Type"), tt.status, tt.body)
		}
	}
}

func TestTransportsConfig(t *testing.T) {
	e := newEnv(t, Config{Transports: []string{TransportPolling}}, false)
	_, body, _ := e.do("GET", e.url("EIO=4&transport=polling"), "")
	if !strings.Contains(body, `"upgrades":[]`) {
		t.Fatalf("open packet %q", body)
	}
	_, _, err := gws.NewClient(&wsClient{}, &gws.ClientOption{Addr: e.wsURL("EIO=4&transport=websocket")})
	if err == nil {
		t.Fatal("websocket allowed on a polling-only server")
	}

	e = newEnv(t, Config{Transports: []string{TransportWebSocket}}, false)
	if code, body, _ := e.do("GET", e.url("EIO=4&transport=polling"), ""); code != 400 || !strings.Contains(body, `"code":0`) {
		t.Fatalf("polling on a websocket-only server: %d %q", code, body)
	}
	e.wsHandshake()
}

func TestCORS(t *testing.T) {
	e := newEnv(t, Config{CORS: CORS{AllowedOrigins: []string{"https://ok.example"}, AllowCredentials: true, MaxAge: time.Minute}}, false)
	_, _, hdr := e.do("GET", e.url("EIO=4&transport=polling"), "", "Origin", "https://ok.example")
	if hdr.Get("Access-Control-Allow-Origin") != "https://ok.example" || hdr.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(hdr.Get("Vary"), "Origin") {
		t.Fatalf("handshake headers %v", hdr)
	}
	code, _, hdr := e.do("GET", e.url("EIO=4&transport=nope"), "", "Origin", "https://ok.example")
	if code != 400 || hdr.Get("Access-Control-Allow-Origin") != "https://ok.example" {
		t.Fatalf("error response: %d %v", code, hdr)
	}
	_, _, hdr = e.do("GET", e.url("EIO=4&transport=polling"), "", "Origin", "https://evil.example")
	if hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("disallowed origin got %v", hdr)
	}
	code, body, hdr := e.do("OPTIONS", e.url("EIO=4&transport=polling"), "", "Origin", "https://ok.example",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if code != 204 || body != "" || hdr.Get("Access-Control-Allow-Origin") != "https://ok.example" ||
		!strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "POST") || hdr.Get("Access-Control-Allow-Headers") != "content-type" ||
		hdr.Get("Access-Control-Max-Age") != "60" {
		t.Fatalf("preflight: %d %q %v", code, body, hdr)
	}

	e = newEnv(t, Config{CORS: CORS{AllowedOrigins: []string{"*"}}}, false)
	sid, _ := e.handshake()
	code, _, hdr = e.do("POST", e.url("EIO=4&transport=polling&sid="+sid), "4x", "Origin", "https://any.example")
	if code != 200 || hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("wildcard: %d %v", code, hdr)
	}

	e = newEnv(t, Config{CORS: CORS{AllowOrigin: func(o string) bool { return strings.HasSuffix(o, ".good.example") }}}, false)
	_, _, hdr = e.do("GET", e.url("EIO=4&transport=polling"), "", "Origin", "https://a.good.example")
	if hdr.Get("Access-Control-Allow-Origin") != "https://a.good.example" {
		t.Fatalf("func: %v", hdr)
	}
	_, _, hdr = e.do("GET", e.url("EIO=4&transport=polling"), "", "Origin", "https://bad.example")
	if hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("func refused: %v", hdr)
	}
}

func TestServerClose(t *testing.T) {
	var mu sync.Mutex
	reasons := map[string]string{}
	entered := make(chan struct{}, 3)
	release := make(chan struct{})
	srv := NewServer(Config{}, func(s *Session) {
		s.OnClose(func(reason string) {
			entered <- struct{}{}
			<-release // Close must wait for this
			mu.Lock()
			reasons[s.ID()] = reason
			mu.Unlock()
		})
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	e := &env{t: t, hs: hs, client: &http.Client{Transport: &http.Transport{}}}
	defer e.client.CloseIdleConnections()

	ws := e.dial("EIO=4&transport=websocket")
	ws.next(t)
	code, body, _ := e.do("GET", e.url("EIO=4&transport=polling"), "")
	if code != 200 {
		t.Fatal(code, body)
	}
	sid := body[len(`0{"sid":"`) : len(`0{"sid":"`)+20]
	pending := make(chan string, 1)
	go func() {
		_, body, _ := e.do("GET", e.url("EIO=4&transport=polling&sid="+sid), "")
		pending <- body
	}()
	eventually.True(t, 5*time.Second, "poll pending", func() bool {
		s := srv.lookup(sid)
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.get != nil
	})
	_, idle, _ := e.do("GET", e.url("EIO=4&transport=polling"), "") // a session with no poll

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- srv.Close(ctx) }()
	for i := 0; i < 3; i++ {
		select {
		case <-entered:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of 3 sessions told of the shutdown", i)
		}
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while OnClose handlers were still running", err)
	default:
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := len(reasons)
	for id, r := range reasons {
		if r != ReasonServerShutdown {
			t.Errorf("%s closed with %q", id, r)
		}
	}
	mu.Unlock()
	if n != 3 {
		t.Fatalf("%d sessions told of the shutdown, want 3 (%s)", n, idle)
	}
	if body := <-pending; body != "1" {
		t.Fatalf("pending GET got %q", body)
	}
	var ce *gws.CloseError
	if err := ws.waitClosed(t); !errors.As(err, &ce) || ce.Code != 1001 {
		t.Fatalf("ws close %v", err)
	}
	if code, _, _ := e.do("GET", e.url("EIO=4&transport=polling"), ""); code != 503 {
		t.Fatalf("handshake after Close: %d", code)
	}
	if err := srv.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestServerCloseDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := NewServer(Config{}, func(s *Session) {
		s.OnClose(func(string) { <-release })
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	e := &env{t: t, hs: hs, client: &http.Client{Transport: &http.Transport{}}}
	defer e.client.CloseIdleConnections()
	ws := e.dial("EIO=4&transport=websocket")
	ws.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v", err)
	}
	ws.waitClosed(t)
	close(release)
	if err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSlowCallbackBackpressure(t *testing.T) {
	gate := make(chan struct{})
	got := make(chan string, 4096)
	srv := NewServer(Config{}, func(s *Session) {
		s.OnMessage(func(data []byte, _ bool) {
			<-gate
			got <- string(data)
		})
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	e := &env{t: t, hs: hs, client: &http.Client{Transport: &http.Transport{}}}
	defer e.client.CloseIdleConnections()
	ws := e.dial("EIO=4&transport=websocket")
	ws.next(t)
	const n = 2 * inboxMaxMessages
	for i := 0; i < n; i++ {
		ws.send(t, "4"+itoa(i))
	}
	close(gate)
	for i := 0; i < n; i++ {
		select {
		case m := <-got:
			if m != itoa(i) {
				t.Fatalf("message %d = %q", i, m)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d missing", i)
		}
	}
	if err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCloseInOnSession(t *testing.T) {
	for _, transport := range []string{TransportPolling, TransportWebSocket} {
		srv := NewServer(Config{}, func(s *Session) {
			_ = s.Send(frame("bye"))
			s.Close("refused")
		})
		hs := httptest.NewServer(srv)
		e := &env{t: t, hs: hs, client: &http.Client{Transport: &http.Transport{}}}
		if transport == TransportPolling {
			code, body, _ := e.do("GET", e.url("EIO=4&transport=polling"), "")
			if code != 200 || !strings.HasPrefix(body, "0{") || !strings.HasSuffix(body, "}\x1e4bye\x1e1") {
				t.Fatalf("polling: %d %q", code, body)
			}
		} else {
			c := e.dial("EIO=4&transport=websocket")
			if m := c.next(t); !strings.HasPrefix(m.data, "0{") {
				t.Fatalf("open %q", m.data)
			}
			if m := c.next(t); m.data != "4bye" {
				t.Fatalf("frame %q", m.data)
			}
			c.waitClosed(t)
		}
		if err := srv.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.client.CloseIdleConnections()
		hs.Close()
	}
}

// A reader waiting for room in a full inbox (its callback is stuck) leaves
// as soon as the session closes, dropping its message, instead of waiting
// for the callback.
func TestFullInboxReaderLeavesWhenSessionCloses(t *testing.T) {
	gate := make(chan struct{})
	srv := NewServer(Config{}, nil)
	s := srv.newSession(Handshake{})
	s.OnMessage(func([]byte, bool) { <-gate })
	left := make(chan struct{})
	go func() {
		defer close(left)
		for range 2 * inboxMaxMessages {
			s.in.deliver([]byte("x"), false)
		}
	}()
	eventually.True(t, 5*time.Second, "the reader waits for room", func() bool {
		s.in.mu.Lock()
		defer s.in.mu.Unlock()
		return s.in.space != nil
	})
	s.closeWith(ReasonForcedClose, closeAbort)
	select {
	case <-left:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader still waits for room after the session closed")
	}
	close(gate)
	if err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
