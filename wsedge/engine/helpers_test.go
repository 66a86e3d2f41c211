package engine

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// env is a running engine behind an httptest server on 127.0.0.1:0, with a
// recorder of every session's callbacks.
type env struct {
	t      *testing.T
	srv    *Server
	hs     *httptest.Server
	client *http.Client
	echo   bool

	mu       sync.Mutex
	sessions map[string]*rec
	newSess  chan *rec
}

// rec records one session's callbacks.
type rec struct {
	s      *Session
	msgs   chan msg
	closed chan string
}

type msg struct {
	data   string
	binary bool
}

func newEnv(t *testing.T, cfg Config, echo bool) *env {
	t.Helper()
	e := &env{t: t, echo: echo, sessions: map[string]*rec{}, newSess: make(chan *rec, 64)}
	e.srv = NewServer(cfg, func(s *Session) {
		r := &rec{s: s, msgs: make(chan msg, 4096), closed: make(chan string, 1)}
		s.OnMessage(func(data []byte, binary bool) {
			if e.echo {
				payload := data
				if !binary {
					payload = append([]byte{'4'}, data...)
				}
				_ = s.Send(outq.NewFrame(binary, payload))
			}
			r.msgs <- msg{string(data), binary}
		})
		s.OnClose(func(reason string) { r.closed <- reason })
		e.mu.Lock()
		e.sessions[s.ID()] = r
		e.mu.Unlock()
		e.newSess <- r
	})
	e.hs = httptest.NewServer(e.srv)
	e.client = &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.srv.Close(ctx); err != nil {
			t.Errorf("Server.Close: %v", err)
		}
		e.client.CloseIdleConnections()
		e.hs.Close()
	})
	return e
}

func (e *env) url(query string) string { return e.hs.URL + "/engine.io/?" + query }

func (e *env) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(e.hs.URL, "http") + "/engine.io/?" + query
}

func (e *env) rec(sid string) *rec {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessions[sid]
}

// do sends a request and returns status, body and headers.
func (e *env) do(method, url, body string, hdr ...string) (int, string, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// handshake opens a polling session and returns its id and recorder.
func (e *env) handshake() (string, *rec) {
	e.t.Helper()
	code, body, _ := e.do("GET", e.url("EIO=4&transport=polling"), "")
	if code != 200 || !strings.HasPrefix(body, "0{") {
		e.t.Fatalf("handshake: %d %q", code, body)
	}
	var open struct{ SID string }
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		e.t.Fatalf("open packet %q: %v", body, err)
	}
	return open.SID, e.rec(open.SID)
}

func (e *env) poll(sid string) (int, string) {
	e.t.Helper()
	code, body, _ := e.do("GET", e.url("EIO=4&transport=polling&sid="+sid), "")
	return code, body
}

// pendingPoll starts a long-poll on session r (id sid) and returns once the
// server holds it; the channel gets the poll's body.
func (e *env) pendingPoll(sid string, r *rec) <-chan string {
	e.t.Helper()
	got := make(chan string, 1)
	go func() {
		_, body := e.poll(sid)
		got <- body
	}()
	e.waitPollHeld(r)
	return got
}

// waitPollHeld waits until the server holds a long-poll of session r.
func (e *env) waitPollHeld(r *rec) {
	e.t.Helper()
	eventually.True(e.t, 5*time.Second, "poll pending", func() bool { r.s.mu.Lock(); defer r.s.mu.Unlock(); return r.s.get != nil })
}

func (e *env) post(sid, body string) (int, string) {
	e.t.Helper()
	code, resp, _ := e.do("POST", e.url("EIO=4&transport=polling&sid="+sid), body)
	return code, resp
}

// wsClient is a gws client recording what it receives.
type wsClient struct {
	conn   *gws.Conn
	msgs   chan msg
	closed chan error
}

func (c *wsClient) OnOpen(*gws.Conn)               {}
func (c *wsClient) OnPing(*gws.Conn, []byte)       {}
func (c *wsClient) OnPong(*gws.Conn, []byte)       {}
func (c *wsClient) OnClose(_ *gws.Conn, err error) { c.closed <- err }
func (c *wsClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	c.msgs <- msg{string(m.Bytes()), m.Opcode == gws.OpcodeBinary}
}

func (e *env) dial(query string) *wsClient {
	e.t.Helper()
	c := &wsClient{msgs: make(chan msg, 4096), closed: make(chan error, 1)}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: e.wsURL(query)})
	if err != nil {
		e.t.Fatalf("dial %s: %v", query, err)
	}
	c.conn = conn
	done := make(chan struct{})
	go func() { defer close(done); conn.ReadLoop() }()
	e.t.Cleanup(func() { _ = conn.NetConn().Close(); <-done })
	return c
}

func (c *wsClient) send(t *testing.T, s string) {
	t.Helper()
	if err := c.conn.WriteString(s); err != nil {
		t.Fatalf("ws send %q: %v", s, err)
	}
}

func (c *wsClient) next(t *testing.T) msg {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case err := <-c.closed:
		c.closed <- err
		select { // messages are all queued before the close is reported
		case m := <-c.msgs:
			return m
		default:
		}
		t.Fatalf("ws closed while waiting for a message: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("timeout waiting for a ws message")
	}
	return msg{}
}

func (c *wsClient) waitClosed(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.closed:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("timeout waiting for ws close")
	}
	return nil
}

func (r *rec) next(t *testing.T) msg {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("timeout waiting for a session message")
	}
	return msg{}
}

func (r *rec) waitClosed(t *testing.T) string {
	t.Helper()
	select {
	case reason := <-r.closed:
		return reason
	case <-time.After(5 * time.Second):
		t.Fatal("timeout waiting for the session to close")
	}
	return ""
}

func frame(s string) *outq.Frame { return outq.NewFrame(false, []byte("4"+s)) }
