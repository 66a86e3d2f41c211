package engine

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// pipeNet connects test nodes' Forwarders with net.Pipe.
type pipeNet struct {
	mu    sync.Mutex
	nodes map[string]*pipeForwarder
}

type pipeForwarder struct {
	net  *pipeNet
	name string
	ln   *pipeListener
}

type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (n *pipeNet) node(name string) *pipeForwarder {
	f := &pipeForwarder{net: n, name: name, ln: &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}}
	n.mu.Lock()
	n.nodes[name] = f
	n.mu.Unlock()
	return f
}

func (f *pipeForwarder) Node() string           { return f.name }
func (f *pipeForwarder) Listener() net.Listener { return f.ln }
func (f *pipeForwarder) Dial(ctx context.Context, node, _ string) (net.Conn, error) {
	f.net.mu.Lock()
	to := f.net.nodes[node]
	f.net.mu.Unlock()
	if to == nil {
		return nil, ErrUnknownNode
	}
	a, b := net.Pipe()
	select {
	case to.ln.conns <- b:
		return a, nil
	case <-to.ln.done:
		return nil, ErrUnknownNode
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.UnixAddr{Name: "pipe", Net: "pipe"} }

// twoNodes returns engines "a" and "b" that forward to each other.
func twoNodes(t *testing.T, cfg Config) (a, b *env) {
	t.Helper()
	n := &pipeNet{nodes: map[string]*pipeForwarder{}}
	ca, cb := cfg, cfg
	ca.Forward, cb.Forward = n.node("a"), n.node("b")
	return newEnv(t, ca, false), newEnv(t, cb, false)
}

// A session opened on a is served through b: POST, GET and the upgrade.
func TestForwardPollPostAndUpgrade(t *testing.T) {
	a, b := twoNodes(t, Config{})
	sid, r := a.handshake()
	if !strings.HasPrefix(sid, "a~") || len(sid) != len("a~")+20 {
		t.Fatalf("sid %q: want the owner's name, '~', 20 random characters", sid)
	}
	if code, body := b.post(sid, "4hello"); code != 200 || body != "ok" {
		t.Fatalf("forwarded POST: %d %q", code, body)
	}
	if m := r.next(t); m.data != "hello" {
		t.Fatalf("owner got %q", m.data)
	}
	_ = r.s.Send(frame("one"), frame("two"))
	if code, body := b.poll(sid); code != 200 || body != "4one\x1e4two" {
		t.Fatalf("forwarded GET: %d %q", code, body)
	}

	ws := b.dial("EIO=4&transport=websocket&sid=" + sid)
	ws.send(t, "2probe")
	if m := ws.next(t); m.data != "3probe" {
		t.Fatalf("probe answer %q", m.data)
	}
	ws.send(t, "5")
	ws.send(t, "4over ws")
	if m := r.next(t); m.data != "over ws" {
		t.Fatalf("owner got %q", m.data)
	}
	_ = r.s.Send(frame("back"))
	if m := ws.next(t); m.data != "4back" {
		t.Fatalf("proxied WebSocket got %q", m.data)
	}
	if r.s.Transport() != TransportWebSocket {
		t.Fatal("the session did not upgrade")
	}
}

// Unknown or malformed owners get engine.io's "Session ID unknown"; a POST
// over MaxPayload is refused before it is forwarded.
func TestForwardLimits(t *testing.T) {
	a, b := twoNodes(t, Config{MaxPayload: 100})
	for _, sid := range []string{"zz~AAAAAAAAAAAAAAAAAAAA", "~AAAA", "no-tilde", "a.*>~x"} {
		code, body := b.poll(sid)
		if code != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
			t.Errorf("sid %q: %d %s", sid, code, body)
		}
	}
	sid, r := a.handshake()
	code, _ := b.post(sid, "4"+strings.Repeat("x", 100))
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized forwarded POST: %d, want 413", code)
	}
	if code, _ := b.post(sid, "4fits"); code != 200 {
		t.Fatalf("POST after a refused one: %d", code)
	}
	if m := r.next(t); m.data != "fits" {
		t.Fatalf("owner got %q first, want only the POST that fit", m.data)
	}
}

// An owner that never answers is cut at ForwardTimeout with 504.
func TestForwardTimeout(t *testing.T) {
	n := &pipeNet{nodes: map[string]*pipeForwarder{}}
	stuck := n.node("stuck")
	go func() { // accept and read, never answer
		for {
			c, err := stuck.ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() { stuck.ln.Close() })
	b := newEnv(t, Config{Forward: n.node("b"), ForwardTimeout: 100 * time.Millisecond}, false)
	start := time.Now()
	code, body := b.poll("stuck~AAAAAAAAAAAAAAAAAAAA")
	if code != http.StatusGatewayTimeout || !strings.Contains(body, "timed out") {
		t.Fatalf("stuck owner: %d %s, want 504", code, body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v, want about ForwardTimeout", d)
	}
}
