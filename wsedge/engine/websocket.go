package engine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/lxzan/gws"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/eio"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
	"github.com/sockbus/sockbus/wsedge/internal/wsconn"
)

// wsReadBufferSize is gws's per-connection read buffer: small, because idle
// connections pay for it (frames larger than it are read in full anyway).
const wsReadBufferSize = 1024

// wsConn is one WebSocket connection: gws reads it, an outq.Queue writes it.
//
// gws's read loop is the connection's only goroutine while it is idle, so
// it must stay on the runtime's smallest stack (see wsconn.Handlers): every
// message is handled on one of the server's handlers (HandleMessage), one
// at a time and in order, while the loop waits for its turn
// (TestIdleWebSocketMemory).
type wsConn struct {
	srv  *Server
	sess *Session // nil for a connection refused after the upgrade
	conn *gws.Conn
	nc   net.Conn
	q    *outq.Queue
	// turn is taken by the read loop before it hands a message over and
	// given back by the handler, so the next message (and OnClose) waits
	// for the last one.
	turn  wsconn.Turn
	owned bool // the read loop runs on a goroutine of startReadLoop's
}

func (srv *Server) newWSConn(conn *gws.Conn, raw net.Conn) *wsConn {
	c := &wsConn{srv: srv, conn: conn, nc: raw}
	c.q = outq.New(c.nc, srv.cfg.queue, c.onWriteError)
	wsconn.Set(conn, c)
	return c
}

// serveWebSocketHandshake opens a WebSocket-only session.
func (srv *Server) serveWebSocketHandshake(w http.ResponseWriter, r *http.Request, hs Handshake) {
	conn, raw, err := wsconn.Upgrade(srv.upgrader, w, r, wsReadBufferSize)
	if err != nil {
		srv.cfg.log.Debug("engine: websocket upgrade failed", "err", err)
		return
	}
	c := srv.newWSConn(conn, raw)
	s := srv.newSession(hs)
	s.ws, c.sess = c, s
	_ = c.q.Push(outq.NewFrame(false, srv.openPacket(s.id, true)))
	if srv.onSession != nil {
		srv.onSession(s)
	}
	srv.startReadLoop(c)
	if !srv.register(s) {
		s.closeWith(ReasonServerShutdown, closeAbort)
	}
	srv.cfg.log.Debug("engine: session opened", "sid", s.id, "transport", TransportWebSocket)
	s.startHeartbeat()
}

// serveUpgrade takes a WebSocket offered to upgrade polling session s. One
// that cannot be an upgrade (s already upgraded or upgrading, upgrades off)
// is accepted and closed at once, as engine.io does.
func (srv *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, s *Session) {
	conn, raw, err := wsconn.Upgrade(srv.upgrader, w, r, wsReadBufferSize)
	if err != nil {
		srv.cfg.log.Debug("engine: websocket upgrade failed", "sid", s.id, "err", err)
		return
	}
	c := srv.newWSConn(conn, raw)
	if !srv.cfg.upgrades || !s.beginUpgrade(c) {
		_ = conn.WriteClose(1000, nil)
		conn.ReadLoop() // returns at once; releases gws's buffers
		return
	}
	srv.startReadLoop(c)
}

// startReadLoop runs c's gws read loop on a goroutine the server owns
// (ended by OnClose's call to endReadLoop). The caller must hold a count in
// srv.busy (an entered request). The goroutine starts in ReadLoop itself:
// a frame of ours under it would be stack the idle loop pays for.
func (srv *Server) startReadLoop(c *wsConn) {
	srv.busy.add()
	srv.mu.Lock()
	srv.conns[c] = struct{}{}
	srv.mu.Unlock()
	c.owned = true
	go c.conn.ReadLoop()
}

// endReadLoop runs last on a read loop of startReadLoop's, from OnClose.
func (c *wsConn) endReadLoop() {
	if !c.owned {
		return
	}
	srv := c.srv
	defer srv.busy.done()
	c.q.Close()
	c.q.Wait()
	srv.mu.Lock()
	delete(srv.conns, c)
	srv.mu.Unlock()
}

// abort discards c's queue and cuts the connection.
func (c *wsConn) abort() {
	c.q.Close()
	_ = c.nc.Close()
}

// closeGracefully writes what c has queued, then a close frame, and closes
// the connection. No frame may be pushed after it is called.
func (c *wsConn) closeGracefully(code uint16) {
	c.srv.busy.add()
	go func() {
		defer c.srv.busy.done()
		c.q.Wait() // the queue's write timeout bounds a stuck client
		c.q.Close()
		_ = c.conn.WriteClose(code, nil) // bounded by wsconn.ControlWriteTimeout
		_ = c.nc.Close()
	}()
}

func (c *wsConn) onWriteError(err error) {
	if c.sess == nil {
		return
	}
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		// The client took nothing for the write timeout: a slow consumer.
		c.sess.onWSGone(c, ReasonSlowConsumer)
		return
	}
	c.sess.onWSGone(c, ReasonTransportError)
}

// Close code and reason a WebSocket transport gets when its session is
// closed as a slow consumer (a full queue, or a write timeout), as on
// plain WebSocket channels. socket.io-client treats any transport close
// as "transport close" and reconnects.
const (
	slowConsumerCode  = 1008
	slowConsumerClose = "slow consumer"
	// slowCloseTimeout is how long the close frame waits for a client that
	// stopped reading to take the frame being written and then it.
	slowCloseTimeout = 10 * time.Second
)

// closeSlow drops what c queued, finishes the frame being written (a cut
// frame would garble the stream), then sends close 1008 "slow consumer",
// waiting up to slowCloseTimeout for the stalled client to read up to it.
// No frame may be pushed after it is called.
func (c *wsConn) closeSlow() {
	c.srv.busy.add()
	go func() {
		defer c.srv.busy.done()
		c.q.Close()
		c.q.Wait()
		if rest := c.q.Unfinished(); rest != nil {
			_ = c.nc.SetWriteDeadline(time.Now().Add(slowCloseTimeout))
			if _, err := rest.WriteTo(c.nc); err != nil {
				_ = c.nc.Close()
				return
			}
		}
		_ = wsconn.WriteClose(c.conn, slowConsumerCode, slowConsumerClose, slowCloseTimeout)
		_ = c.nc.Close()
	}()
}

func (c *wsConn) onFrame(binary bool, data []byte) {
	s := c.sess
	if s == nil {
		return
	}
	var p eio.Packet
	if binary {
		p = eio.DecodeBinary(data)
	} else {
		var err error
		if p, err = eio.DecodeText(data); err != nil {
			s.onWSGone(c, ReasonParseError)
			return
		}
	}
	if p.Type == eio.Message {
		p.Data = append([]byte(nil), p.Data...)
	}
	s.onWSPacket(c, p)
}

// onWSPacket routes a packet from WebSocket c: to the upgrade logic while c
// is being upgraded to, to the session once c is its transport.
func (s *Session) onWSPacket(c *wsConn, p eio.Packet) {
	s.mu.Lock()
	if c == s.probe {
		s.onProbePacketLocked(c, p)
		s.mu.Unlock()
		return
	}
	ok := c == s.ws && s.state == stateOpen
	s.mu.Unlock()
	if ok {
		inline := s.srv.cfg.inline
		s.onPacket(p, inline == nil || p.Type != eio.Message || inline(p.Data, p.Binary))
	}
}

// pong queues a WebSocket pong on c if c is s's transport or upgrade probe.
func (s *Session) pong(c *wsConn, f *outq.Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen || c != s.ws && c != s.probe {
		return
	}
	if c.q.Push(f) == outq.ErrFull {
		if c == s.probe {
			s.cancelUpgradeLocked()
		} else {
			s.closeLocked(ReasonSlowConsumer, closeAbort)
		}
	}
}

// onWSGone handles the end of WebSocket c (read or write side, or a packet
// it could not decode): an upgrade probe is dropped, a transport closes s.
func (s *Session) onWSGone(c *wsConn, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c {
	case s.probe:
		s.cancelUpgradeLocked()
	case s.ws:
		s.closeLocked(reason, closeAbort)
	}
}

// onWSFault is onWSGone for a connection gws's reader cut for the client's
// fault (oversize frame, bad UTF-8), which the metrics name.
func (s *Session) onWSFault(c *wsConn, reason string, fault metrics.Reason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c {
	case s.probe:
		s.srv.cfg.metrics.Refused(fault)
		s.srv.cfg.warn.Warn("engine: upgrade refused: "+fault.String(), "sid", s.id)
		s.cancelUpgradeLocked()
	case s.ws:
		if s.state == stateOpen {
			s.fault, s.hasFault = fault, true
		}
		s.closeLocked(reason, closeAbort)
	}
}

// Upgrade from polling: the client opens a WebSocket with the sid, sends
// "2probe" (answered "3probe"; the pending poll gets noop so the client can
// pause polling; until "5", polls still get buffered frames, or noop at once
// when there are none), then "5";
// the WebSocket then carries everything, buffered frames first. Any other
// packet, a close or the upgrade timeout ends the attempt and the session
// stays on polling.

func (s *Session) beginUpgrade(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen || s.ws != nil || s.probe != nil {
		return false
	}
	c.sess = s
	s.probe = c
	s.upgradeTimer = time.AfterFunc(s.srv.cfg.upgradeTimeout, func() {
		s.mu.Lock()
		if s.probe == c {
			s.cancelUpgradeLocked()
		}
		s.mu.Unlock()
	})
	return true
}

func (s *Session) onProbePacketLocked(c *wsConn, p eio.Packet) {
	switch {
	case p.Type == eio.Ping && string(p.Data) == "probe":
		if c.q.Push(frameProbe) != nil {
			s.cancelUpgradeLocked()
			return
		}
		s.probed = true
		if g := s.get; g != nil {
			s.get = nil
			g.answer(pollReply{tail: eio.Noop})
		}
	case p.Type == eio.Upgrade:
		s.upgradeTimer.Stop()
		s.probe, s.probed = nil, false
		s.ws = c
		s.releaseSlotLocked() // the WebSocket counts as a connection itself
		if g := s.get; g != nil {
			s.get = nil
			g.answer(pollReply{tail: eio.Noop})
		}
		if frames := s.takeBufLocked(); len(frames) > 0 {
			if c.q.Push(frames...) == outq.ErrFull {
				s.closeLocked(ReasonSlowConsumer, closeAbort)
				return
			}
		}
		s.srv.cfg.log.Debug("engine: session upgraded", "sid", s.id)
		if fn := s.onUpgrade; fn != nil {
			go fn() // not under s.mu: it may ask the session about itself
		}
	default:
		s.cancelUpgradeLocked()
	}
}

func (s *Session) cancelUpgradeLocked() {
	c := s.probe
	if c == nil {
		return
	}
	s.upgradeTimer.Stop()
	s.probe, s.probed = nil, false
	c.abort()
	s.flushPollLocked()
}

var (
	_ gws.Event    = wsEvents{}
	_ http.Handler = (*Server)(nil)
)

// wsEvents receives gws's callbacks for every connection; the connection's
// wsconn.Slot leads to our wsConn.
type wsEvents struct{}

func (wsEvents) OnOpen(*gws.Conn) {}

func (wsEvents) OnClose(conn *gws.Conn, err error) {
	c := wsconn.Of[*wsConn](conn)
	if c == nil {
		return
	}
	c.turn.Take() // after the last message's handler
	defer c.endReadLoop()
	if c.sess == nil {
		return
	}
	reason := ReasonTransportError
	var ce *gws.CloseError
	if errors.As(err, &ce) || errors.Is(err, io.EOF) {
		reason = ReasonTransportClose
	}
	if fault, ok := wsconn.Fault(err); ok {
		c.sess.onWSFault(c, reason, fault)
		return
	}
	c.sess.onWSGone(c, reason)
}

// OnPing answers a WebSocket-level ping (browsers do not send them) through
// the connection's queue, while the connection is in use.
func (wsEvents) OnPing(conn *gws.Conn, payload []byte) {
	if c := wsconn.Of[*wsConn](conn); c != nil && c.sess != nil {
		c.sess.pong(c, outq.NewPongFrame(append([]byte(nil), payload...)))
	}
}

func (wsEvents) OnPong(*gws.Conn, []byte) {}

// OnMessage runs on the connection's read loop: it waits until the last
// message has been handled and hands this one to a goroutine of its own
// (see wsConn for why the loop does no more).
func (wsEvents) OnMessage(conn *gws.Conn, msg *gws.Message) {
	c := wsconn.Of[*wsConn](conn)
	if c == nil {
		msg.Close()
		return
	}
	c.turn.Take()
	c.srv.handlers.Run(c, msg)
}

// HandleMessage decodes msg, copies what it keeps and hands off (see inbox
// for the only wait), then gives the read loop its turn back.
func (c *wsConn) HandleMessage(msg *gws.Message) {
	c.onFrame(msg.Opcode == gws.OpcodeBinary, msg.Bytes())
	msg.Close()
	c.turn.Give()
}

// gwsLogger passes gws's error logs to slog.
type gwsLogger struct{ l *slog.Logger }

func (g gwsLogger) Error(v ...any) { g.l.Warn("engine: gws", "msg", fmt.Sprint(v...)) }
