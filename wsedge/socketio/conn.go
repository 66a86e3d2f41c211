package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
	"github.com/sockbus/sockbus/wsedge/sio"
)

// clientConn is one Engine.IO session and the sockets multiplexed on it
// (one per namespace). Packets are handled on the session's message
// goroutine, in order; the socket map is also touched by Disconnect and the
// close callback, hence the mutex.
type clientConn struct {
	srv     *Server
	session *engine.Session

	mu           sync.Mutex
	sockets      map[string]*Socket // by namespace name
	connectTimer *time.Timer
	events       *wsedge.TokenBucket  // inbound events; nil: no limit
	addr         *wsedge.AddressShare // its address's events (Config.AddressEvents); nil: no limit
	refused      int                  // CONNECTs refused so far (message goroutine only)
	// closedFor: the connection was closed for the client's fault; the
	// packets still queued behind that one are dropped (message goroutine only).
	closedFor bool

	// Binary packet being reassembled (message goroutine only).
	pending *sio.Packet
	atts    [][]byte
}

func (s *Server) onSession(es *engine.Session) {
	c := &clientConn{srv: s, session: es, sockets: map[string]*Socket{},
		events: wsedge.NewTokenBucket(s.cfg.EventsPerSecond, s.cfg.EventBurst),
		addr:   s.cfg.AddressEvents.Acquire(es.Handshake().RemoteAddr)}
	c.connectTimer = time.AfterFunc(s.cfg.ConnectTimeout, func() {
		c.mu.Lock()
		idle := len(c.sockets) == 0
		c.mu.Unlock()
		if idle {
			es.Close(ReasonForcedClose)
		}
	})
	es.OnMessage(c.onMessage)
	es.OnClose(c.onClose)
	es.OnUpgrade(c.onUpgrade)
}

func (c *clientConn) send(frames ...*outq.Frame) {
	// A slow consumer is warned once where the session is cut (engine).
	if err := c.session.Send(frames...); err != nil && !errors.Is(err, outq.ErrClosed) && !errors.Is(err, outq.ErrFull) {
		c.srv.warn.Warn("send failed", "session", c.session.ID(), "err", err)
	}
}

// fail closes the whole connection, as socket.io does on any protocol error.
func (c *clientConn) fail(why string, err error) {
	c.srv.log.Debug("closing connection on bad input", "session", c.session.ID(), "why", why, "err", err)
	c.session.Close(ReasonParseError)
}

// allowEvent takes one event (or CONNECT) from the connection's budget and
// from its address's.
func (c *clientConn) allowEvent() bool {
	if !c.events.Allow() {
		return false
	}
	if !c.addr.Allow() {
		c.srv.warn.Warn("socket.io event refused: per-address rate limit", "address", c.session.Handshake().Address)
		return false
	}
	return true
}

// closeFor closes the connection for the client's fault (see CloseFor) and
// ignores whatever it sent after.
func (c *clientConn) closeFor(reason string, fault metrics.Reason) {
	c.closedFor = true
	c.session.CloseFor(reason, fault)
}

func (c *clientConn) onMessage(data []byte, binary bool) {
	if c.closedFor {
		return
	}
	if binary {
		if c.pending == nil {
			c.fail("binary message without a binary packet", nil)
			return
		}
		c.atts = append(c.atts, data)
		if len(c.atts) == c.pending.Attachments {
			p, atts := *c.pending, c.atts
			c.pending, c.atts = nil, nil
			c.handle(p, atts)
		}
		return
	}
	if c.pending != nil {
		c.fail("text packet while reassembling a binary packet", nil)
		return
	}
	p, err := c.srv.decoder.Decode(data)
	if err != nil {
		c.fail("undecodable packet", err)
		return
	}
	if p.Type.Binary() {
		if err := sio.CheckPlaceholders(p.Data, p.Attachments); err != nil {
			c.fail("bad placeholders", err)
			return
		}
		c.pending, c.atts = &p, make([][]byte, 0, p.Attachments)
		return
	}
	c.handle(p, nil)
}

func (c *clientConn) socket(ns string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sockets[ns]
}

// detach removes s from the connection; false if it was not attached.
func (c *clientConn) detach(s *Socket) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sockets[s.ns.name] != s {
		return false
	}
	delete(c.sockets, s.ns.name)
	return true
}

func (c *clientConn) handle(p sio.Packet, atts [][]byte) {
	if p.Type == sio.Connect {
		c.connect(p)
		return
	}
	s := c.socket(p.Namespace)
	if s == nil || p.Type == sio.ConnectError {
		c.fail("packet for a namespace not joined", nil)
		return
	}
	switch p.Type {
	case sio.Disconnect:
		if c.detach(s) {
			s.left(ReasonClientNamespaceDisconnect)
		}
	case sio.Event, sio.BinaryEvent:
		name, args, err := sio.SplitEvent(p.Data)
		if err != nil || sio.IsReserved(name) {
			c.fail("bad event", err)
			return
		}
		if m := c.srv.metrics; m != nil {
			size := len(p.Data)
			for _, a := range atts {
				size += len(a)
			}
			m.Events(metrics.KindSocketIO, 1, size)
		}
		e := &Event{Name: name, Args: args, Attachments: atts, socket: s, ackID: p.ID}
		if !c.allowEvent() {
			if !e.WantsAck() {
				c.srv.log.Debug("closing connection over its event rate", "session", c.session.ID())
				c.closeFor(wsedge.ReasonRateLimited, metrics.ReasonRateLimit)
				return
			}
			c.srv.metrics.Refused(metrics.ReasonRateLimit)
			c.srv.warn.Warn("socket.io event refused: rate limit", "session", c.session.ID())
			_ = e.AckError(ErrAckRateLimited)
			return
		}
		if len(name) > bus.MaxNameLen {
			_ = e.AckError(ErrAckNameTooLong)
			return
		}
		if name == wsedge.RefreshEvent {
			s.refresh(e)
			return
		}
		c.srv.forwardToBus(s, e)
		s.dispatch(e)
	case sio.Ack, sio.BinaryAck:
		s.onAck(p.ID, p.Data, atts)
	}
}

// connect handles a CONNECT: namespace, recovery or history plan,
// middleware, replay (before the CONNECT reply), then the connection handlers.
func (c *clientConn) connect(p sio.Packet) {
	c.mu.Lock()
	_, dup := c.sockets[p.Namespace]
	joined := len(c.sockets)
	c.mu.Unlock()
	if dup {
		c.fail("second CONNECT to a joined namespace", nil)
		return
	}
	// A CONNECT costs what an event costs (it may run the connect hook),
	// and a refused one keeps counting against the namespace bound.
	if !c.allowEvent() {
		c.srv.log.Debug("closing connection over its event rate (CONNECTs)", "session", c.session.ID())
		c.closeFor(wsedge.ReasonRateLimited, metrics.ReasonRateLimit)
		return
	}
	if joined+c.refused >= c.srv.cfg.MaxNamespaces {
		c.refuse(p.Namespace, "too many namespaces", map[string]any{"max": c.srv.cfg.MaxNamespaces})
		return
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
		return
	}
	defer c.srv.settle(n, true)
	// Before anything is subscribed: a refused client creates nothing.
	var grant wsedge.Grant
	if a := c.srv.cfg.Authorizer; a != nil {
		hs := c.session.Handshake()
		actx, cancel := context.WithTimeout(context.Background(), wsedge.AuthTimeout)
		g, err := a.Authorize(actx, wsedge.AuthRequest{
			Kind: wsedge.AuthNamespace, Name: n.name, Token: tokenFromAuth(auth), Auth: auth,
			Header: hs.Header, Query: hs.Query, RemoteAddr: hs.RemoteAddr,
		})
		cancel()
		if err != nil {
			msg, data, _ := wsedge.Refusal(err)
			c.srv.log.Debug("connect refused", "namespace", n.name, "address", hs.Address, "err", err)
			c.srv.metrics.Refused(metrics.ReasonAuth)
			c.srv.warn.Warn("socket.io connect refused: auth", "namespace", n.name, "address", hs.Address, "err", err)
			c.refuse(n.name, msg, data)
			return
		}
		grant = g
	}
	s := c.newSocket(n, auth)
	s.user = grant.User // before planRecovery: only the session's user recovers it
	plan := c.planRecovery(n, s, auth)
	applyGrant(s, grant)
	mw, onConn := n.chain()
	// A recovered socket skips the middleware by default, as in socket.io
	// (skipMiddlewares): the Authorizer ran above and only the session's
	// own user recovers it, so what the middleware admitted and stored
	// comes back with the session.
	skipped := plan.restore && !c.srv.cfg.RunMiddlewaresOnRecovery
	if !skipped && !c.admit(n, mw, s) {
		return
	}
	if plan.fresh != nil {
		c.srv.metrics.Outcome(*plan.fresh)
	}
	replaying := plan.restore || plan.history > 0
	if replaying {
		s.hold.Start(c.srv.cfg.Engine.Queue)
	}
	if err := n.add(s); err != nil {
		c.srv.log.Error("namespace unavailable", "namespace", n.name, "err", err)
		n.remove(s)
		c.connectError(n.name, "namespace unavailable", nil)
		return
	}
	var last uint64
	if replaying {
		var err error
		last, err = c.replay(n, s, plan)
		switch {
		case err == nil:
			s.recovered = plan.restore
			c.srv.metrics.Outcome(plan.outcome())
		case plan.restore && errors.Is(err, bus.ErrHistoryGone):
			// Cannot be honoured: a fresh session, nothing replayed.
			c.srv.metrics.Outcome(metrics.RecoveryHistoryGone)
			n.remove(s)
			s = c.newSocket(n, auth)
			applyGrant(s, grant)
			if skipped && !c.admit(n, mw, s) { // not recovered after all
				return
			}
			if err := n.add(s); err != nil {
				n.remove(s)
				c.connectError(n.name, "namespace unavailable", nil)
				return
			}
			replaying = false
		default:
			// Part of the replay may have gone out, each event with its
			// offset: closing lets the client resume from the last one.
			c.srv.log.Warn("replay failed", "namespace", n.name, "err", err)
			c.srv.metrics.Outcome(plan.failure())
			n.remove(s)
			c.session.Close(ReasonTransportError)
			return
		}
	}
	if len(grant.Rooms) > 0 {
		if _, err := n.join(s, grant.Rooms...); err != nil {
			c.srv.log.Warn("failed to join granted rooms", "namespace", n.name, "err", err)
		}
	}
	c.mu.Lock()
	c.sockets[n.name] = s
	c.connectTimer.Stop()
	c.mu.Unlock()
	s.expiry.Set(grant.Expires, func() { s.disconnectWith(wsedge.ReasonTokenExpired) }) // a no-op if it left meanwhile
	body := `{"sid":` + strconv.Quote(s.id)
	if s.pid != "" {
		body += `,"pid":` + strconv.Quote(s.pid)
	}
	reply := sio.Packet{Type: sio.Connect, Namespace: n.name, ID: sio.NoID, Data: []byte(body + "}")}
	c.send(outq.NewFrame(false, sio.Append([]byte{'4'}, reply)))
	if replaying {
		s.replayed.Store(last)
		s.hold.Release(last, s.sendFrames)
	}
	if !s.recovered {
		c.markStart(n, s)
	}
	s.saveSession()
	if o := c.srv.observed(); o != nil && o.Connected != nil {
		o.Connected(s)
	}
	for _, h := range onConn {
		h(s)
	}
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
	s := &Socket{id: newSocketID(), ns: n, conn: c, rooms: map[string]struct{}{}}
	if c.srv.recoveryOn() {
		s.pid = newSocketID()
	}
	s.hs = Handshake{Handshake: *c.session.Handshake(), Auth: append(json.RawMessage(nil), auth...)}
	s.hs.Time = time.Now() // the CONNECT's, as in socket.io
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

// onUpgrade tells the server's Observer that the connection's sockets now
// use WebSocket.
func (c *clientConn) onUpgrade() {
	o := c.srv.observed()
	if o == nil || o.Upgraded == nil {
		return
	}
	c.mu.Lock()
	socks := make([]*Socket, 0, len(c.sockets))
	for _, s := range c.sockets {
		socks = append(socks, s)
	}
	c.mu.Unlock()
	for _, s := range socks {
		o.Upgraded(s)
	}
}

// onClose runs once when the Engine.IO session ends.
func (c *clientConn) onClose(reason string) {
	c.srv.cfg.AddressEvents.Release(c.addr)
	c.mu.Lock()
	c.connectTimer.Stop()
	socks := make([]*Socket, 0, len(c.sockets))
	for _, s := range c.sockets {
		socks = append(socks, s)
	}
	clear(c.sockets)
	c.mu.Unlock()
	for _, s := range socks {
		s.left(reason)
	}
}

// forwardToBus publishes a client event on sockbus.in.<ns>.<event> when
// anyone (a NATS handler on any node) listens there; when the client wants
// an ack the publish is a request and the first reply answers it.
func (s *Server) forwardToBus(sock *Socket, e *Event) {
	if sock.ns.local {
		return
	}
	evTok, err := bus.EncodeToken(e.Name)
	if err != nil {
		return
	}
	subject := bus.InSubject(sock.ns.tok, evTok)
	if !s.bus.HasInterest(subject) {
		return
	}
	m := &bus.Msg{Subject: subject, Header: bus.Header{HeaderSocket: []string{sock.id}}}
	if sock.user != "" {
		m.Header[wsedge.HeaderUser] = []string{sock.user}
	}
	joinAttachments(m, e.Args, e.Attachments)
	if e.WantsAck() {
		reply, err := s.bus.AwaitReply(s.cfg.BusAckTimeout, func(r *bus.Msg) {
			if r.NoResponders() {
				e.forwardDone(forwardNobody) // no handler: the store's ack answers
				return
			}
			e.forwardDone(forwardAnswered)
			args, atts, err := splitAttachments(r)
			if err != nil || !json.Valid(args) || len(args) == 0 || args[0] != '[' {
				args, atts = []byte("[]"), nil
				if len(r.Data) > 0 && json.Valid(r.Data) {
					args = sio.AppendArg(nil, r.Data) // a bare value answers as one argument
				}
			}
			_ = e.AckRaw(args, atts)
		})
		if err == nil {
			m.Reply = reply
			e.forwarded = true
		}
	}
	if err := s.bus.PublishLive(m); err != nil {
		s.warn.Warn("forward to bus failed", "subject", subject, "err", err)
	}
}
