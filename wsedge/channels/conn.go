package channels

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
	"github.com/sockbus/sockbus/wsedge/internal/wsconn"
)

// channelConn is one client connection.
type channelConn struct {
	id        string
	channel   string
	ws        *gws.Conn
	raw       net.Conn // ws's socket, written by q and, once q is done, by closeWith
	q         *outq.Queue
	hub       *channelHub
	user      string               // from the Authorizer's grant, for HeaderUser
	msgs      *wsedge.TokenBucket  // inbound frames; nil: no limit
	addr      *wsedge.AddressShare // its address's frames; nil: no limit
	closeOnce sync.Once
	expiry    wsedge.ExpiryTimer  // closes at the grant's expiry
	authReq   *wsedge.AuthRequest // the connect's request (no token) for refreshes; nil: no Authorizer
	cause     atomic.Int32        // 1 + the metrics.Reason it ended for, once known
	ch        *Server

	hold  wsedge.LiveHold[*outq.Frame] // live messages held during a history replay
	order bus.Sender                   // what it sends is stored in this order
	obs   observed                     // what the Observers were told
	// turn orders its messages, each handled off the read loop by the
	// server's handlers (HandleMessage), and OnClose after the last one.
	turn wsconn.Turn
}

// push queues a live message, or holds it while history is being sent.
func (cc *channelConn) push(seq uint64, f *outq.Frame) error {
	if held, overflow := cc.hold.Offer(seq, f, 1, f.Size()); held {
		if overflow {
			return outq.ErrFull
		}
		return nil
	}
	return cc.q.Push(f)
}

// closeAsync closes a connection without blocking the caller (a bus
// delivery goroutine must never wait on one client's socket).
func (c *Server) closeAsync(cc *channelConn, code wsedge.CloseCode, reason string) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		// Out of the hub and the count at once: the close frame may wait
		// for a stalled client (CloseWriteTimeout).
		c.leave(cc)
		cc.closeWith(code, reason)
	}()
}

// ended counts cc's end once, for the first reason known: the server's
// when it closes cc (at once, not when a stalled client's close frame
// finally goes), else what the reader saw. Refusals are warned, but slow
// consumers are warned where they are cut.
func (c *Server) ended(cc *channelConn, r metrics.Reason) {
	if !cc.cause.CompareAndSwap(0, int32(r)+1) {
		return
	}
	c.observeEnd(cc, r)
	if r.Refusal() && r != metrics.ReasonSlowConsumer {
		c.warn.Warn("websocket closed: "+r.String(), "conn", cc.id)
	}
	if m := c.cfg.Metrics; m != nil {
		m.Disconnected(metrics.KindWebSocket, r)
		m.Refused(r)
	}
}

// disconnectCause is why the reader saw a connection end.
func disconnectCause(err error) metrics.Reason {
	if fault, ok := wsconn.Fault(err); ok {
		return fault
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return metrics.ReasonPingTimeout // reaped: no frame, not even a pong, in time
	case wsedge.CloseStatus(err) != -1, errors.Is(err, io.EOF):
		return metrics.ReasonClientClose
	}
	return metrics.ReasonTransportError
}

// closeWith discards what is queued, sends a close frame (bounded: the
// client may not be reading) and closes the socket.
func (cc *channelConn) closeWith(code wsedge.CloseCode, reason string) {
	cc.ch.ended(cc, code.Cause())
	cc.closeOnce.Do(func() {
		cc.q.Close()
		wait := wsconn.ControlWriteTimeout
		if code == wsedge.CloseSlowConsumer {
			// The client stalled: its close frame goes after the frame
			// being written, whole, and it gets CloseWriteTimeout to read
			// up to it. Other closes (shutdown) stay quick.
			cc.q.Wait()
			wait = wsedge.CloseWriteTimeout
			if rest := cc.q.Unfinished(); rest != nil {
				_ = cc.raw.SetWriteDeadline(time.Now().Add(wait))
				if _, err := rest.WriteTo(cc.raw); err != nil {
					_ = cc.ws.NetConn().Close()
					return
				}
			}
		}
		_ = wsconn.WriteClose(cc.ws, uint16(code), reason, wait)
		_ = cc.ws.NetConn().Close()
	})
}

// channelEvents adapts gws callbacks to Server. gws calls them on each
// connection's read goroutine; none of them blocks, and none handles a
// message there: the read loop must stay on a 2 KiB stack (see
// wsconn.Handlers), so OnMessage hands each message to the server's
// handlers.
type channelEvents struct{ c *Server }

func (e channelEvents) alive(ws *gws.Conn) {
	_ = ws.SetReadDeadline(time.Now().Add(e.c.cfg.PingInterval + e.c.cfg.PingTimeout))
}

func (e channelEvents) OnOpen(*gws.Conn) {}

func (e channelEvents) OnClose(ws *gws.Conn, err error) {
	cc := wsconn.Of[*channelConn](ws)
	if cc == nil {
		return
	}
	defer e.c.wg.Done()        // the read loop's count (serve)
	cc.turn.Take()             // after the last message's handler
	cc.closeOnce.Do(func() {}) // the peer or gws closed it: nothing left to send
	cc.q.Close()
	e.c.cfg.AddressEvents.Release(cc.addr)
	e.c.leave(cc)
	e.c.ended(cc, disconnectCause(err))
	if code := wsedge.CloseStatus(err); code != -1 && code != int(wsedge.CloseNormal) && code != int(wsedge.CloseGoingAway) {
		e.c.log.Debug("websocket closed", "conn", cc.id, "code", code, "err", err)
	}
}

func (e channelEvents) OnPing(ws *gws.Conn, payload []byte) {
	e.alive(ws)
	if cc := wsconn.Of[*channelConn](ws); cc != nil {
		_ = cc.q.Push(outq.NewPongFrame(append([]byte(nil), payload...)))
	}
}

func (e channelEvents) OnPong(ws *gws.Conn, _ []byte) { e.alive(ws) }

// OnMessage waits until the last message has been handled and hands this
// one to a handler goroutine (HandleMessage).
func (e channelEvents) OnMessage(ws *gws.Conn, msg *gws.Message) {
	cc := wsconn.Of[*channelConn](ws)
	if cc == nil {
		msg.Close()
		return
	}
	cc.turn.Take()
	e.c.handlers.Run(cc, msg)
}

// HandleMessage publishes a client's message (or answers a token
// refresh), then gives the read loop its turn back.
func (cc *channelConn) HandleMessage(msg *gws.Message) {
	defer cc.turn.Give()
	defer msg.Close()
	e := channelEvents{cc.ch}
	e.alive(cc.ws)
	if cc.hub == nil {
		return
	}
	if !cc.msgs.Allow() {
		e.c.closeAsync(cc, wsedge.CloseRateLimited, wsedge.ReasonRateLimited)
		return
	}
	if !cc.addr.Allow() {
		e.c.warn.Warn("websocket refused: per-address rate limit", "conn", cc.id, "address", cc.addr.Addr())
		e.c.closeAsync(cc, wsedge.CloseRateLimited, wsedge.ReasonRateLimited)
		return
	}
	if tok, ok := refreshToken(cc, msg); ok {
		e.c.refresh(cc, tok)
		return
	}
	m := &bus.Msg{Subject: cc.hub.subject, Header: bus.Header{}}
	m.Data = append([]byte(nil), msg.Bytes()...) // gws reuses msg's buffer
	e.c.cfg.Metrics.Events(metrics.KindWebSocket, 1, len(m.Data))
	m.Header.Set(bus.HeaderFrom, cc.id)
	if cc.user != "" {
		m.Header.Set(wsedge.HeaderUser, cc.user)
	}
	binary := msg.Opcode == gws.OpcodeBinary
	if binary {
		m.Header.Set(bus.HeaderBinary, "1")
	}
	if err := e.c.bus.PublishStoredBy(&cc.order, m, func(err error) { e.stored(cc, err) }); err != nil {
		e.stored(cc, err)
		return
	}
	e.c.observeMessage(cc, m.Data, binary)
}

// stored learns whether a client's message was stored: one that was not
// is a gap in the order the client sent, so the connection is closed.
func (e channelEvents) stored(cc *channelConn, err error) {
	if err == nil {
		return
	}
	e.c.warn.Warn("publish failed", "conn", cc.id, "err", err)
	e.c.cfg.Metrics.PublishError()
	e.c.closeAsync(cc, wsedge.CloseInternalError, wsedge.ReasonBusError)
}
