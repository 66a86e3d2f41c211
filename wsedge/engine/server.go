package engine

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lxzan/gws"

	"github.com/sockbus/sockbus/internal/randid"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/internal/wheel"
	"github.com/sockbus/sockbus/wsedge/internal/wsconn"
)

// Server is an Engine.IO v4 server: an http.Handler to mount at a path
// prefix (conventionally "/socket.io/"); it does not look at the path.
//
// ServeHTTP and Close are safe to call concurrently. Close must be called to
// end sessions: net/http's Shutdown neither closes WebSockets (they are
// hijacked) nor answers pending long-polls, so call Close first or from
// http.Server.RegisterOnShutdown.
type Server struct {
	cfg       settings
	onSession func(*Session)
	upgrader  *gws.Upgrader

	mu       sync.Mutex
	sessions map[string]*Session
	conns    map[*wsConn]struct{}
	closed   bool

	busy busy // open sessions, owned goroutines, handshakes in progress

	handlers wsconn.Handlers // run WebSocket messages off the read loops
	wheel    *wheel.Wheel    // every session's heartbeat
	rooms    roomWaits       // polling sessions whose WaitRoom waits

	fwd *forwarding // nil without Config.Forward
}

// NewServer returns a server. onSession is called once for each new
// session, on the handshake request's goroutine, before the session can
// receive anything: set its callbacks there. It may call Send and Close.
func NewServer(cfg Config, onSession func(*Session)) *Server {
	srv := &Server{
		cfg:       cfg.settings(),
		onSession: onSession,
		sessions:  make(map[string]*Session),
		conns:     make(map[*wsConn]struct{}),
	}
	srv.wheel = wheel.New(beatTick(srv.cfg.pingInterval, srv.cfg.pingTimeout))
	srv.upgrader = gws.NewUpgrader(wsEvents{}, &gws.ServerOption{
		ReadMaxPayloadSize: srv.cfg.maxPayload,
		ReadBufferSize:     wsReadBufferSize,
		CheckUtf8Enabled:   true,
		ParallelEnabled:    false,
		Logger:             gwsLogger{srv.cfg.log},
		NewSession:         wsconn.NewSlot[*wsConn],
	})
	if cfg.Forward != nil {
		srv.startForwarding(cfg.Forward)
	}
	return srv
}

// beatTick is the heartbeat wheel's resolution: a fortieth of the shorter
// heartbeat setting, between 1 and 100 ms (100 ms of 20 s by default).
func beatTick(interval, timeout time.Duration) time.Duration {
	return min(max(min(interval, timeout)/40, time.Millisecond), 100*time.Millisecond)
}

// ServeHTTP handles every Engine.IO request: handshakes, polls, POSTs,
// preflights and WebSocket upgrades.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { srv.serve(w, r, false) }

// serve handles a request; forwarded ones come from another node, which
// already answered CORS and must not forward them again.
func (srv *Server) serve(w http.ResponseWriter, r *http.Request, forwarded bool) {
	if !forwarded && srv.cfg.corsOn && srv.cfg.cors.apply(w, r) {
		return
	}
	q := r.URL.Query()
	transport := q.Get("transport")
	if !(transport == TransportPolling && srv.cfg.polling || transport == TransportWebSocket && srv.cfg.websocket) {
		writeError(w, codeUnknownTransport, "", 0)
		return
	}
	upgrade := isWebSocketUpgrade(r)
	if upgrade && !forwarded && !srv.cfg.cors.AllowsOrigin(r) { // the entry node checked a forwarded one
		srv.cfg.warn.Warn("engine: websocket upgrade refused: origin not allowed",
			"origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		srv.cfg.metrics.Refused(metrics.ReasonOrigin)
		writeError(w, codeForbidden, "Origin not allowed", 0)
		return
	}
	if sid := q.Get("sid"); sid != "" {
		s := srv.lookup(sid)
		if s == nil && !forwarded && srv.fwd != nil {
			if owner := srv.fwd.owner(sid); owner != "" {
				srv.forward(w, r, owner)
				return
			}
		}
		switch {
		case s == nil:
			writeError(w, codeUnknownSID, "", 0)
		case transport == TransportWebSocket && upgrade:
			if !srv.enter() {
				writeError(w, codeUnknownSID, "", 0)
				return
			}
			defer srv.busy.done()
			srv.serveUpgrade(w, r, s)
		case transport == TransportPolling && !upgrade && r.Method == http.MethodGet:
			srv.servePoll(w, r, s)
		case transport == TransportPolling && !upgrade && r.Method == http.MethodPost:
			srv.servePost(w, r, s)
		default:
			writeError(w, codeBadRequest, "", 0)
		}
		return
	}
	if forwarded {
		writeError(w, codeBadRequest, "", 0) // only requests of a session are forwarded
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, codeBadHandshakeMethod, "", 0)
		return
	}
	if upgrade != (transport == TransportWebSocket) {
		writeError(w, codeBadRequest, "", 0)
		return
	}
	if srv.cfg.allowRequest != nil {
		if err := srv.cfg.allowRequest(r); err != nil {
			writeError(w, codeForbidden, err.Error(), 0)
			return
		}
	}
	if q.Get("EIO") != "4" {
		writeError(w, codeUnsupportedProtocolVersion, "", 0)
		return
	}
	if !srv.enter() {
		writeError(w, codeBadRequest, "Server shutting down", http.StatusServiceUnavailable)
		return
	}
	defer srv.busy.done()
	hs := newHandshake(r)
	if upgrade {
		srv.serveWebSocketHandshake(w, r, hs)
	} else {
		srv.servePollingHandshake(w, r, hs)
	}
}

// Close closes every session with ReasonServerShutdown, letting each flush
// what it has queued, and waits until they are closed and the server's
// goroutines (WebSocket readers, message dispatchers) have returned,
// OnClose callbacks included. When ctx ends first it cuts every connection
// and returns ctx's error without waiting further. Later handshakes get 503.
// Close is idempotent.
func (srv *Server) Close(ctx context.Context) error {
	srv.mu.Lock()
	srv.closed = true
	list := srv.sessionList()
	srv.mu.Unlock()
	defer srv.handlers.Close() // after the sessions' last messages
	defer srv.wheel.Close()    // after the sessions' close (beats stop with them)
	if srv.fwd != nil {
		srv.fwd.stop() // proxied WebSockets end: their clients reconnect elsewhere
	}
	for _, s := range list {
		s.closeWith(ReasonServerShutdown, closeFlush)
		s.endLinger()
	}
	if srv.busy.wait(ctx) == nil {
		if srv.fwd != nil {
			srv.fwd.close(ctx)
		}
		return nil
	}
	if srv.fwd != nil {
		srv.fwd.close(ctx)
	}
	srv.mu.Lock()
	list = srv.sessionList()
	conns := make([]*wsConn, 0, len(srv.conns))
	for c := range srv.conns {
		conns = append(conns, c)
	}
	srv.mu.Unlock()
	for _, s := range list {
		s.closeWith(ReasonServerShutdown, closeAbort)
	}
	for _, c := range conns {
		c.abort()
	}
	return ctx.Err()
}

// Transports counts open sessions by the transport they use now (read at
// metrics scrape time, not on any hot path).
func (srv *Server) Transports() (polling, websocket int) {
	srv.mu.Lock()
	list := srv.sessionList()
	srv.mu.Unlock()
	for _, s := range list {
		if s.Transport() == TransportWebSocket {
			websocket++
		} else {
			polling++
		}
	}
	return polling, websocket
}

func (srv *Server) sessionList() []*Session {
	list := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		list = append(list, s)
	}
	return list
}

// enter counts a request that may open a session or start goroutines; it
// fails once the server is closed.
func (srv *Server) enter() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closed {
		return false
	}
	srv.busy.add()
	return true
}

func (srv *Server) lookup(sid string) *Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.sessions[sid]
}

// register makes s reachable by its id; it fails once the server is closed
// or if s was closed by onSession.
func (srv *Server) register(s *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen {
		return false
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closed {
		return false
	}
	srv.sessions[s.id] = s
	srv.busy.add()
	s.registered = true
	return true
}

// unregister is called once, with s.mu held, when s closes.
func (srv *Server) unregister(s *Session) {
	srv.mu.Lock()
	delete(srv.sessions, s.id)
	srv.mu.Unlock()
	srv.busy.done()
}

// openPacket returns the open packet ("0{...}") of a new session.
func (srv *Server) openPacket(sid string, websocket bool) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `0{"sid":"`...)
	b = append(b, sid...)
	b = append(b, `","upgrades":[`...)
	if !websocket && srv.cfg.upgrades {
		b = append(b, `"websocket"`...)
	}
	b = append(b, `],"pingInterval":`...)
	b = strconv.AppendInt(b, srv.cfg.pingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, srv.cfg.pingTimeout.Milliseconds(), 10)
	b = append(b, `,"maxPayload":`...)
	b = strconv.AppendInt(b, int64(srv.cfg.maxPayload), 10)
	return append(b, '}')
}

// newID returns 20 URL-safe characters from 120 random bits, after the
// node's name and '~' when forwarding is on.
func (srv *Server) newID() string {
	id := randid.URL(15)
	if srv.fwd != nil {
		return srv.fwd.node + string(sidSeparator) + id
	}
	return id
}

func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
