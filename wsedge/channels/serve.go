package channels

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
	"github.com/sockbus/sockbus/wsedge/internal/wsconn"
)

// NameFromPath extracts the channel from a request path: "/ws" and "/ws/"
// are DefaultChannel, "/ws/{name}" is name, percent-decoded.
func NameFromPath(escapedPath string) (string, error) {
	rest, ok := strings.CutPrefix(escapedPath, "/ws")
	if !ok || (rest != "" && rest[0] != '/') {
		return "", fmt.Errorf("wsedge: %q is not a channel path", escapedPath)
	}
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" {
		return DefaultChannel, nil
	}
	name, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("wsedge: bad channel name: %w", err)
	}
	return name, nil
}

// ServeHTTP upgrades a request to a WebSocket connection on its channel,
// step by step: admit the request (before anything exists for the channel),
// join the channel's hub (before the upgrade answers), upgrade, send the
// asked-for history, then hand the connection to its read loop.
func (c *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, ok := c.admit(w, r)
	if !ok {
		return
	}
	if !c.enter() {
		http.Error(w, wsedge.ReasonShutdown, http.StatusServiceUnavailable)
		return
	}
	defer c.wg.Done()

	// Subscribe before the upgrade answers: once the client sees its
	// connection open, a message published on the channel reaches it. Live
	// messages are held until the connection (and any history) is ready.
	cc := &channelConn{ch: c, id: c.idPrefix + strconv.FormatUint(c.nextID.Add(1), 36), channel: req.name, user: req.grant.User,
		msgs: wsedge.NewTokenBucket(c.cfg.MessagesPerSecond, c.cfg.MessageBurst), authReq: req.authReq}
	cc.hold.Start(c.cfg.Queue)
	if err := c.join(req.tok, cc); err != nil {
		c.log.Error("channel subscribe failed", "channel", req.name, "err", err)
		http.Error(w, "channel unavailable", http.StatusServiceUnavailable)
		return
	}
	if !c.upgrade(w, r, cc) {
		return
	}
	last, ok := c.sendHistory(cc, req)
	if !ok {
		return
	}
	cc.hold.Release(last, func(f *outq.Frame) {
		if cc.q.Push(f) == outq.ErrFull {
			c.closeAsync(cc, wsedge.CloseSlowConsumer, wsedge.ReasonSlowConsumer)
		}
	})
	// Its own goroutine: closeWith's wait is bounded by the write timeout.
	cc.expiry.Set(req.grant.Expires, func() { cc.closeWith(wsedge.CloseTokenExpired, wsedge.ReasonTokenExpired) })
	// The read loop gets a fresh goroutine (as in the engine): the request
	// goroutine's stack has grown through net/http and would stay that size
	// for the connection's life.
	cc.addr = c.cfg.AddressEvents.Acquire(r.RemoteAddr) // released by OnClose, once the read loop ends
	// Before the read loop: the observers hear Connected before any Message.
	c.announce(cc)
	// The goroutine starts in ReadLoop itself: a frame of ours under it
	// would be stack every idle connection pays for. OnClose, its last
	// call, ends the count.
	c.wg.Add(1)
	go cc.ws.ReadLoop()
}

// admission is what an admitted request asks for.
type admission struct {
	name, tok string
	history   int // messages to replay; 0: none
	grant     wsedge.Grant
	authReq   *wsedge.AuthRequest // for refreshes; nil: no Authorizer
}

// admit checks a request before anything exists for its channel (a
// refused client creates nothing; a page embedding <img src=".../ws/x">
// costs the server nothing) and asks the Authorizer. On false the request
// has been answered.
func (c *Server) admit(w http.ResponseWriter, r *http.Request) (admission, bool) {
	var req admission
	if !c.origins.AllowsOrigin(r) {
		c.warn.Warn("websocket refused: origin not allowed", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		c.cfg.Metrics.Refused(metrics.ReasonOrigin)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return req, false
	}
	var err error
	if req.name, err = NameFromPath(r.URL.EscapedPath()); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return req, false
	}
	if req.tok, err = bus.EncodeToken(req.name); err != nil {
		http.Error(w, "channel name longer than 255 bytes", http.StatusBadRequest)
		return req, false
	}
	if !wsconn.IsUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "not a WebSocket upgrade", http.StatusUpgradeRequired)
		return req, false
	}
	if h := r.URL.Query().Get("history"); h != "" {
		req.history, err = strconv.Atoi(h)
		if err != nil || req.history < 0 {
			http.Error(w, "history must be a non-negative integer", http.StatusBadRequest)
			return req, false
		}
		if c.cfg.History == nil {
			http.Error(w, "history is not enabled", http.StatusBadRequest)
			return req, false
		}
		req.history = min(req.history, c.cfg.MaxHistory)
	}
	return req, c.authorize(w, r, &req)
}

// authorize asks the Authorizer (if any) to admit req; on false the request
// has been answered with the refusal.
func (c *Server) authorize(w http.ResponseWriter, r *http.Request, req *admission) bool {
	a := c.cfg.Authorizer
	if a == nil {
		return true
	}
	actx, cancel := context.WithTimeout(r.Context(), wsedge.AuthTimeout)
	grant, err := a.Authorize(actx, wsedge.AuthRequest{
		Kind: wsedge.AuthChannel, Name: req.name, Token: tokenFromRequest(r),
		Header: r.Header, Query: r.URL.Query(), RemoteAddr: r.RemoteAddr,
	})
	cancel()
	req.authReq = refreshTemplate(r, req.name)
	if err != nil {
		msg, _, status := wsedge.Refusal(err)
		c.log.Debug("connect refused", "channel", req.name, "remote", r.RemoteAddr, "err", err)
		c.cfg.Metrics.Refused(metrics.ReasonAuth)
		c.warn.Warn("websocket refused: auth", "channel", req.name, "remote", r.RemoteAddr, "err", err)
		http.Error(w, msg, status)
		return false
	}
	req.grant = grant
	return true
}

// enter counts a request in (Close waits for it) unless the server is
// shutting down; the caller calls c.wg.Done when it returns.
func (c *Server) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closing {
		c.wg.Add(1)
	}
	return !c.closing
}

// upgrade answers the request with the WebSocket upgrade and starts cc's
// outbound queue; on false cc has left its hub and is closed.
func (c *Server) upgrade(w http.ResponseWriter, r *http.Request, cc *channelConn) bool {
	ws, raw, err := wsconn.Upgrade(c.upgrader, w, r, c.cfg.ReadBufferSize)
	if err != nil {
		c.log.Debug("websocket upgrade failed", "err", err)
		c.leave(cc)
		return false
	}
	cc.ws = ws
	cc.raw = raw
	cc.q = outq.New(raw, c.cfg.Queue, func(err error) {
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			// The client took nothing for the write timeout: a slow
			// consumer, told so if it ever reads again.
			c.warn.Warn("websocket closed: slow consumer", "conn", cc.id, "err", err)
			c.closeAsync(cc, wsedge.CloseSlowConsumer, wsedge.ReasonSlowConsumer)
			return
		}
		c.log.Debug("write failed", "conn", cc.id, "err", err)
		_ = ws.NetConn().Close()
	})
	wsconn.Set(ws, cc)
	_ = ws.SetReadDeadline(time.Now().Add(c.cfg.PingInterval + c.cfg.PingTimeout))
	if !c.track(cc) {
		c.leave(cc)
		cc.closeWith(wsedge.CloseGoingAway, wsedge.ReasonShutdown)
		return false
	}
	return true
}

// sendHistory replays the history req asked for to cc and returns the last
// sequence it covered; on false cc has left its hub and is closed.
func (c *Server) sendHistory(cc *channelConn, req admission) (uint64, bool) {
	if req.history == 0 {
		return 0, true
	}
	last, err := c.replay(c.bus.Log(bus.KindChannel, req.tok), cc, req.history)
	if err != nil {
		c.leave(cc)
		c.cfg.Metrics.Outcome(metrics.HistoryFailed)
		if errors.Is(err, errReplaySlow) {
			c.warn.Warn("history replay: client too slow, closed", "channel", req.name, "conn", cc.id, "err", err)
			cc.closeWith(wsedge.CloseSlowConsumer, wsedge.ReasonSlowConsumer)
		} else {
			c.warn.Error("history replay failed", "channel", req.name, "err", err)
			cc.closeWith(wsedge.CloseInternalError, wsedge.ReasonHistoryError)
		}
		return 0, false
	}
	c.cfg.Metrics.Outcome(metrics.HistoryServed)
	return last, true
}

// tokenFromRequest reads ?token= or an "Authorization: Bearer" header.
func tokenFromRequest(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	h := r.Header.Get("Authorization")
	if len(h) > 7 && (h[:7] == "Bearer " || h[:7] == "bearer ") {
		return h[7:]
	}
	return ""
}
