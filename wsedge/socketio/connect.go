package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
	"github.com/sockbus/sockbus/wsedge/sio"
)

// connect handles a CONNECT, step by step: find the namespace, ask the
// Authorizer, plan recovery or history, run the middleware, join and
// replay (before the CONNECT reply), then answer and run the connection
// handlers.
func (c *clientConn) connect(p sio.Packet) {
	n, auth, ok := c.namespaceFor(p)
	if !ok {
		return
	}
	defer c.srv.settle(n, true)
	// Before anything is subscribed: a refused client creates nothing.
	grant, ok := c.authorize(n, auth)
	if !ok {
		return
	}
	a := attempt{n: n, auth: auth, grant: grant}
	s := c.newSocket(n, auth)
	s.user = grant.User // before planRecovery: only the session's user recovers it
	a.plan = c.planRecovery(n, s, auth)
	applyGrant(s, grant)
	var onConn []func(*Socket)
	a.mw, onConn = n.chain()
	// A recovered socket skips the middleware by default, as in socket.io
	// (skipMiddlewares): the Authorizer ran above and only the session's
	// own user recovers it, so what the middleware admitted and stored
	// comes back with the session.
	a.skipped = a.plan.restore && !c.srv.cfg.RunMiddlewaresOnRecovery
	if !a.skipped && !c.admit(n, a.mw, s) {
		return
	}
	if a.plan.fresh != nil {
		c.srv.metrics.Outcome(*a.plan.fresh)
	}
	s, last, replaying := c.joinAndReplay(s, a)
	if s == nil {
		return
	}
	c.connected(s, a, last, replaying)
	for _, h := range onConn {
		h(s)
	}
}

// attempt is what one CONNECT has established so far.
type attempt struct {
	n       *Namespace
	auth    json.RawMessage
	grant   wsedge.Grant
	plan    replayPlan
	mw      []Middleware
	skipped bool // a recovery that skipped the middleware
}

// namespaceFor checks a CONNECT against the connection's limits and finds
// its namespace (counted as connecting until settle); false when the
// connect is refused or the connection closed.
func (c *clientConn) namespaceFor(p sio.Packet) (*Namespace, json.RawMessage, bool) {
	c.mu.Lock()
	dup := c.sockets.get(p.Namespace) != nil
	joined := c.sockets.len()
	c.mu.Unlock()
	if dup {
		c.fail("second CONNECT to a joined namespace", nil)
		return nil, nil, false
	}
	// A CONNECT costs what an event costs (it may run the connect hook),
	// and a refused one keeps counting against the namespace bound.
	if !c.allowEvent() {
		c.srv.log.Debug("closing connection over its event rate (CONNECTs)", "session", c.session.ID())
		c.closeFor(wsedge.ReasonRateLimited, metrics.ReasonRateLimit)
		return nil, nil, false
	}
	if joined+c.refused >= c.srv.cfg.MaxNamespaces {
		c.refuse(p.Namespace, "too many namespaces", map[string]any{"max": c.srv.cfg.MaxNamespaces})
		return nil, nil, false
	}
	auth := json.RawMessage(p.Data)
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	}
	var n *Namespace
	if len(p.Namespace) <= bus.MaxNameLen {
		n = c.srv.lookup(p.Namespace, auth)
	}
	if n == nil {
		c.refuse(p.Namespace, "Invalid namespace", nil)
		return nil, nil, false
	}
	return n, auth, true
}

// authorize asks the Authorizer (if any) to admit a CONNECT to n; false
// when it refused (the client got its connect_error).
func (c *clientConn) authorize(n *Namespace, auth json.RawMessage) (wsedge.Grant, bool) {
	a := c.srv.cfg.Authorizer
	if a == nil {
		return wsedge.Grant{}, true
	}
	hs := c.session.Handshake()
	actx, cancel := context.WithTimeout(context.Background(), wsedge.AuthTimeout)
	g, err := a.Authorize(actx, wsedge.AuthRequest{
		Kind: wsedge.AuthNamespace, Name: n.name, Token: tokenFromAuth(auth), Auth: auth,
		Header: hs.Header(), Query: hs.Query(), RemoteAddr: hs.RemoteAddr,
	})
	cancel()
	if err != nil {
		msg, data, _ := wsedge.Refusal(err)
		c.srv.log.Debug("connect refused", "namespace", n.name, "address", hs.Address, "err", err)
		c.srv.metrics.Refused(metrics.ReasonAuth)
		c.srv.warn.Warn("socket.io connect refused: auth", "namespace", n.name, "address", hs.Address, "err", err)
		c.refuse(n.name, msg, data)
		return wsedge.Grant{}, false
	}
	return g, true
}

// joinAndReplay adds s to its namespace and sends the replay its plan asks
// for (live events held meanwhile). It returns the socket that joined (a
// fresh one when the recovered session's history is gone), the last
// sequence the replay covered and whether s replayed; a nil socket when
// the connect ended.
func (c *clientConn) joinAndReplay(s *Socket, a attempt) (*Socket, uint64, bool) {
	n := a.n
	replaying := a.plan.restore || a.plan.history > 0
	if replaying {
		s.hold.Start(c.srv.cfg.Engine.Queue)
	}
	if err := n.add(s); err != nil {
		c.srv.log.Error("namespace unavailable", "namespace", n.name, "err", err)
		n.remove(s)
		c.connectError(n.name, "namespace unavailable", nil)
		return nil, 0, false
	}
	if !replaying {
		return s, 0, false
	}
	// Events up to seen were fanned out before s was added, so not held
	// for it: the replay must reach them.
	last, err := c.replay(n, s, a.plan, n.seenSeq())
	switch {
	case err == nil:
		s.recovered = a.plan.restore
		c.srv.metrics.Outcome(a.plan.outcome())
		return s, last, true
	case a.plan.restore && errors.Is(err, bus.ErrHistoryGone):
		// Cannot be honoured: a fresh session, nothing replayed.
		c.srv.metrics.Outcome(metrics.RecoveryHistoryGone)
		n.remove(s)
		s = c.newSocket(n, a.auth)
		applyGrant(s, a.grant)
		if a.skipped && !c.admit(n, a.mw, s) { // not recovered after all
			return nil, 0, false
		}
		if err := n.add(s); err != nil {
			n.remove(s)
			c.connectError(n.name, "namespace unavailable", nil)
			return nil, 0, false
		}
		return s, 0, false
	default:
		// Part of the replay may have gone out, each event with its
		// offset: closing lets the client resume from the last one.
		c.srv.log.Warn("replay failed", "namespace", n.name, "err", err)
		c.srv.metrics.Outcome(a.plan.failure())
		n.remove(s)
		c.session.Close(ReasonTransportError)
		return nil, 0, false
	}
}

// connected finishes a CONNECT: the granted rooms, the connection's index,
// the expiry, the CONNECT reply, then the held live events (those the
// replay up to last did not cover) and the session's start.
func (c *clientConn) connected(s *Socket, a attempt, last uint64, replaying bool) {
	n := a.n
	if len(a.grant.Rooms) > 0 {
		if _, err := n.join(s, a.grant.Rooms...); err != nil {
			c.srv.log.Warn("failed to join granted rooms", "namespace", n.name, "err", err)
		}
	}
	c.mu.Lock()
	c.sockets.put(s)
	c.mu.Unlock()
	c.srv.reaper.forget(c.reapSeq)                                                        // an idle connected client holds no slot
	s.expiry.Set(a.grant.Expires, func() { s.disconnectWith(wsedge.ReasonTokenExpired) }) // a no-op if it left meanwhile
	body := `{"sid":` + strconv.Quote(s.id)
	if s.pid != "" {
		body += `,"pid":` + strconv.Quote(s.pid)
	}
	reply := sio.Packet{Type: sio.Connect, Namespace: n.name, ID: sio.NoID, Data: []byte(body + "}")}
	s.announce() // before the reply: nothing the client does can come first
	if replaying {
		c.sendHeldPaced(s, last)
	}
	c.send(outq.NewFrame(false, sio.Append([]byte{'4'}, reply)))
	if replaying {
		s.replayed.Store(last)
		s.hold.Release(last, s.sendFrames)
	}
	if !s.recovered {
		c.markStart(n, s)
	}
	s.saveSession()
	s.presenceJoined(true, s.roomList())
}

// sendHeldPaced sends the live events held during a replay that ended at
// last, a part (a quarter of the outbound bounds) at a time, each once the
// client has read the end of what came before (at most half the bounds
// waiting), while more than a part is held; the rest goes with the hold's
// Release behind the CONNECT reply, which then fits too. All at once, a
// hold up to the whole bound behind the replay's last group overflowed a
// polling buffer the client had not taken yet (a slow consumer). Held
// events going out before the CONNECT reply are in order all the same:
// the client emits what it receives before it once connected. A session
// that closes meanwhile ends the wait.
func (c *clientConn) sendHeldPaced(s *Socket, last uint64) {
	frames, bytes := c.srv.cfg.Engine.Queue.Bounds()
	frames, bytes = max(1, frames/4), max(1, bytes/4)
	for c.waitRoomForHeld() {
		part, ok := s.hold.TakePart(last, frames, bytes)
		if !ok {
			return
		}
		for _, f := range part {
			s.sendFrames(f)
		}
	}
}

// waitRoomForHeld waits for the client to have read what was sent before
// (at most half of the outbound bounds waiting); false when the session
// closed or the client took nothing for 30 s.
func (c *clientConn) waitRoomForHeld() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.session.WaitRoom(ctx) == nil
}

// admit runs the middleware on s; false when one refused it (the client
// got its connect_error).
func (c *clientConn) admit(n *Namespace, mw []Middleware, s *Socket) bool {
	for _, m := range mw {
		if err := m(s); err != nil {
			var ce *wsedge.ConnectError
			if errors.As(err, &ce) {
				c.refuse(n.name, ce.Message, ce.Data)
				if ce.Close {
					c.session.Close(ReasonForcedClose) // graceful: the connect_error goes first
				}
			} else {
				c.refuse(n.name, err.Error(), nil)
			}
			return false
		}
	}
	return true
}

// applyGrant gives the socket the Authorizer's user and data.
func applyGrant(s *Socket, g wsedge.Grant) {
	s.user = g.User
	s.clientRooms = g.ClientRooms
	if len(g.Data) > 0 {
		s.dmu.Lock()
		if s.data == nil {
			s.data = map[string]any{}
		}
		for k, v := range g.Data {
			s.data[k] = v
		}
		s.dmu.Unlock()
	}
}

// newSocket returns a fresh socket (new id, new pid when recovery is on).
func (c *clientConn) newSocket(n *Namespace, auth json.RawMessage) *Socket {
	s := &Socket{id: newSocketID(), ns: n, conn: c} // rooms: made on its first join
	if c.srv.recoveryOn() {
		s.pid = newSocketID()
	}
	s.auth, s.at = append(json.RawMessage(nil), auth...), time.Now()
	return s
}

// ReasonConnectRefusals ends a connection whose CONNECTs were refused
// Config.MaxConnectRefusals times.
const ReasonConnectRefusals = "too many refused connects"

// refuse answers a CONNECT the client is refused (unknown namespace, too
// many, auth, middleware) and closes the connection at the
// Config.MaxConnectRefusals-th: a client cannot make the server run its
// connect hook and middleware for free.
func (c *clientConn) refuse(ns, message string, data any) {
	c.connectError(ns, message, data)
	c.refused++
	if c.refused >= c.srv.cfg.MaxConnectRefusals {
		c.srv.log.Debug("closing connection after refused CONNECTs", "session", c.session.ID(), "refused", c.refused)
		c.closeFor(ReasonConnectRefusals, metrics.ReasonRateLimit)
	}
}

func (c *clientConn) connectError(ns, message string, data any) {
	body := map[string]any{"message": message}
	if data != nil {
		body["data"] = data
	}
	raw, err := json.Marshal(body)
	if err != nil {
		raw = []byte(`{"message":` + strconv.Quote(message) + `}`)
	}
	p := sio.Packet{Type: sio.ConnectError, Namespace: ns, ID: sio.NoID, Data: raw}
	c.send(outq.NewFrame(false, sio.Append([]byte{'4'}, p)))
}

// tokenFromAuth reads auth.token from a CONNECT payload.
func tokenFromAuth(auth json.RawMessage) string {
	var a struct {
		Token any `json:"token"`
	}
	if json.Unmarshal(auth, &a) != nil {
		return ""
	}
	t, _ := a.Token.(string)
	return t
}
