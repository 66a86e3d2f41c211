package socketio

import (
	"encoding/json"
	"errors"
	"sync"

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

	mu      sync.Mutex
	sockets socketSet            // by namespace name
	reapSeq uint64               // its slot in the server's connectReaper, until the first CONNECT succeeds
	events  *wsedge.TokenBucket  // inbound events; nil: no limit
	addr    *wsedge.AddressShare // its address's events (Config.AddressEvents); nil: no limit
	refused int                  // CONNECTs refused so far (message goroutine only)
	// closedFor: the connection was closed for the client's fault; the
	// packets still queued behind that one are dropped (message goroutine only).
	closedFor bool

	// Binary packet being reassembled (message goroutine only).
	pending *sio.Packet
	atts    [][]byte
}

func (s *Server) onSession(es *engine.Session) {
	c := &clientConn{srv: s, session: es,
		events: wsedge.NewTokenBucket(s.cfg.EventsPerSecond, s.cfg.EventBurst),
		addr:   s.cfg.AddressEvents.Acquire(es.Handshake().RemoteAddr)}
	c.reapSeq = s.reaper.add(c)
	es.OnMessage(c.onMessage)
	es.OnClose(c.onClose)
	es.OnUpgrade(c.onUpgrade)
}

// connectTimedOut closes the connection if it joined no namespace within
// Config.ConnectTimeout (the server's connectReaper calls it).
func (c *clientConn) connectTimedOut() {
	c.mu.Lock()
	idle := c.sockets.len() == 0
	c.mu.Unlock()
	if idle {
		c.session.Close(ReasonForcedClose)
	}
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
	return c.sockets.get(ns)
}

// detach removes s from the connection; false if it was not attached.
func (c *clientConn) detach(s *Socket) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sockets.remove(s)
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
		if isServerEvent(name) {
			s.serverEvent(e) // the server's own: never relayed, dispatched or forwarded
			return
		}
		if o := c.srv.observed(); o != nil && o.Event != nil {
			o.Event(e)
		}
		c.srv.forwardToBus(s, e)
		s.dispatch(e)
	case sio.Ack, sio.BinaryAck:
		s.onAck(p.ID, p.Data, atts)
	}
}

// onUpgrade tells the server's Observer that the connection's sockets now
// use WebSocket.
func (c *clientConn) onUpgrade() {
	o := c.srv.observed()
	if o == nil || o.Upgraded == nil {
		return
	}
	c.mu.Lock()
	socks := c.sockets.list()
	c.mu.Unlock()
	for _, s := range socks {
		o.Upgraded(s)
	}
}

// onClose runs once when the Engine.IO session ends.
func (c *clientConn) onClose(reason string) {
	c.srv.cfg.AddressEvents.Release(c.addr)
	c.mu.Lock()
	c.srv.reaper.forget(c.reapSeq)
	socks := c.sockets.list()
	c.sockets.clear()
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
