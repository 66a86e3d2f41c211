package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/eio"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
	"github.com/sockbus/sockbus/wsedge/internal/wheel"
)

type sessionState uint8

const (
	stateOpen sessionState = iota
	// stateClosing: a graceful close of a polling session waits for the
	// client's next GET to hand it the buffered frames and a close packet.
	stateClosing
	stateClosed
)

// closeKind says what a closing session does with its transport.
type closeKind uint8

const (
	// closeAbort drops queued frames; a pending poll gets a close packet.
	closeAbort closeKind = iota
	// closeGraceful delivers queued frames first, then closes.
	closeGraceful
	// closeByClient: the client sent a close packet; a pending poll gets noop.
	closeByClient
	// closeFlush is closeGraceful without waiting for a poll: a polling
	// session with no GET pending is aborted (Server.Close uses it).
	closeFlush
)

// Frames every session shares.
var (
	framePing  = outq.NewFrame(false, []byte{byte(eio.Ping)})
	frameProbe = outq.NewFrame(false, []byte("3probe"))
)

// Session is one Engine.IO connection, on polling or WebSocket, across an
// upgrade.
//
// ID, Transport, Handshake, Send and Close are safe to call from any
// goroutine. OnMessage and OnClose are meant to be called inside the
// server's onSession callback.
//
// Callbacks: for one session they never run concurrently and always run on
// a goroutine the server owns, distinct from the one reading the network:
// every OnMessage in receive order, then OnClose exactly once. A callback
// that blocks delays that session only; while it does, up to 1024 messages
// (4 MiB) are buffered, after which the session stops reading from its
// client until there is room again.
type Session struct {
	srv *Server
	id  string
	hs  Handshake

	mu sync.Mutex
	// The small fields share one word (an idle session's size class).
	state        sessionState
	fault        metrics.Reason // set with hasFault: what the metrics call reason
	hasFault     bool
	registered   bool
	probed       bool // probe answered: an empty poll gets noop at once
	posting      bool // polling: a POST is being read
	awaitingPong bool
	lingering    bool // closed by the client, still answering a racing GET

	reason       string
	ws           *wsConn // the WebSocket transport once in use
	probe        *wsConn // a WebSocket being upgraded to
	onUpgrade    func()  // OnUpgrade's callback; guarded by mu
	upgradeTimer *time.Timer
	buf          []*outq.Frame // polling: frames for the next GET
	bufBytes     int
	get          *pollWaiter // polling: the GET waiting for frames
	drainTimer   *time.Timer
	beat         wheel.Timer // the heartbeat's next step (onBeat), on the server's wheel
	beatAt       time.Time   // heartbeat start or last pong
	slot         func()      // polling: releases the session's count in Config.Limits

	in inbox
}

func (srv *Server) newSession(hs Handshake) *Session {
	s := &Session{srv: srv, id: srv.newID(), hs: hs}
	s.in.s = s
	s.beat.Init((*beatFirer)(s))
	return s
}

// ID returns the session id (the sid query parameter).
func (s *Session) ID() string { return s.id }

// Handshake returns the request that opened the session. Do not modify it.
func (s *Session) Handshake() *Handshake { return &s.hs }

// Transport returns the transport in use: TransportPolling or
// TransportWebSocket (after an upgrade, or from the start).
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ws != nil {
		return TransportWebSocket
	}
	return TransportPolling
}

// OnMessage sets the callback receiving each message the client sends:
// data is the message (without the Engine.IO type byte) and belongs to the
// callee; binary tells a binary message from a text one. Callbacks of one
// session never overlap and come in order. Over WebSocket they usually run
// on the goroutine that decoded the message while the read loop waits for
// it, so a callback that blocks holds up that client's reads, pongs
// included: keep them short.
func (s *Session) OnMessage(fn func(data []byte, binary bool)) {
	s.in.mu.Lock()
	s.in.onMessage = fn
	s.in.mu.Unlock()
}

// OnClose sets the callback told, once, why the session closed: one of the
// Reason constants or the reason given to Close. It runs after the last
// OnMessage callback.
func (s *Session) OnClose(fn func(reason string)) {
	s.in.mu.Lock()
	s.in.onClose = fn
	s.in.mu.Unlock()
}

// OnUpgrade sets a callback run once the session has moved from polling to
// WebSocket (Transport then says so), on a goroutine of its own.
func (s *Session) OnUpgrade(fn func()) {
	s.mu.Lock()
	s.onUpgrade = fn
	s.mu.Unlock()
}

// Send queues frames for the client, contiguously and in order, and never
// blocks. Each frame is a whole WebSocket message payload: binary, or text
// starting with the message type '4'. Frames are shared and must not be
// modified. Send returns ErrSessionClosed once the session is closing,
// ErrInvalidFrame for a bad frame (nothing is sent), and ErrSlowConsumer when
// the frames would pass the outbound bounds, in which case nothing is sent
// and the session closes with ReasonSlowConsumer.
func (s *Session) Send(frames ...*outq.Frame) error {
	for _, f := range frames {
		if f == nil || !f.Binary() && (len(f.Payload()) == 0 || eio.Type(f.Payload()[0]) != eio.Message) {
			return ErrInvalidFrame
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen {
		return ErrSessionClosed
	}
	return s.pushLocked(frames...)
}

// WaitRoom blocks while more than half of the session's outbound bound (in
// bytes or in frames) waits for the client, so that a producer of many
// frames (a history replay) can pace itself on the client instead of
// overflowing it: after it returns, a quarter of each bound can be sent at
// once with room to spare. Over WebSocket it waits for the queue to be
// written, for up to the queue's write timeout (a client that takes
// nothing that long is closed as a slow consumer anyway). Over polling it
// waits for a GET to take the buffer (or for an upgrade, then waits as
// above); a client that stops polling is closed by the heartbeat, which
// ends the wait. It returns ErrSessionClosed once the session is closing,
// ctx's error when ctx ends first.
func (s *Session) WaitRoom(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.state != stateOpen {
			s.mu.Unlock()
			return ErrSessionClosed
		}
		if ws := s.ws; ws != nil {
			s.mu.Unlock()
			return waitQueueRoom(ctx, ws)
		}
		if s.pollRoomLocked() {
			s.mu.Unlock()
			return nil
		}
		room := s.srv.rooms.wait(s)
		s.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return fmt.Errorf("engine: no room in the session's polling buffer: %w", ctx.Err())
		}
	}
}

// pollRoomLocked reports whether at most half of each bound of the polling
// buffer is taken.
func (s *Session) pollRoomLocked() bool {
	return len(s.buf) <= s.srv.cfg.maxFrames/2 && s.bufBytes <= s.srv.cfg.maxBytes/2
}

// wakeRoomLocked wakes WaitRoom's callers: the polling buffer was taken,
// the session upgraded or closed.
func (s *Session) wakeRoomLocked() { s.srv.rooms.wake(s) }

// waitQueueRoom is WaitRoom over WebSocket.
func waitQueueRoom(ctx context.Context, ws *wsConn) error {
	wctx, cancel := context.WithTimeout(ctx, ws.q.WriteTimeout())
	defer cancel()
	if err := ws.q.WaitRoom(wctx); err != nil {
		if errors.Is(err, outq.ErrClosed) {
			return ErrSessionClosed
		}
		return fmt.Errorf("engine: no room in the session's queue: %w", err)
	}
	return nil
}

// SendMessage sends one Engine.IO message: text (the '4' is added) or binary.
// It is Send for callers outside sockbus's packages, which cannot build frames.
func (s *Session) SendMessage(data []byte, binary bool) error {
	if binary {
		return s.Send(outq.NewFrame(true, append([]byte(nil), data...)))
	}
	return s.Send(outq.NewFrame(false, append([]byte{'4'}, data...)))
}

// Close closes the session with reason (conventionally ReasonForcedClose)
// after handing the client what is already queued: over WebSocket the queue
// drains before the close frame; over polling the next GET gets the buffered
// frames and a close packet. Send fails from now on. Close never blocks.
func (s *Session) Close(reason string) { s.closeWith(reason, closeGraceful) }

func (s *Session) closeWith(reason string, kind closeKind) {
	s.mu.Lock()
	s.closeLocked(reason, kind)
	s.mu.Unlock()
}

// pushLocked queues frames on the current transport.
func (s *Session) pushLocked(frames ...*outq.Frame) error {
	if s.ws != nil {
		switch err := s.ws.q.Push(frames...); {
		case err == nil:
			return nil
		case err == outq.ErrFull:
			s.closeLocked(ReasonSlowConsumer, closeAbort)
			return ErrSlowConsumer
		default: // a write failed; the queue's error callback closes s
			return ErrSessionClosed
		}
	}
	n := 0
	for _, f := range frames {
		n += len(f.Payload())
	}
	if len(s.buf)+len(frames) > s.srv.cfg.maxFrames || s.bufBytes+n > s.srv.cfg.maxBytes {
		s.closeLocked(ReasonSlowConsumer, closeAbort)
		return ErrSlowConsumer
	}
	s.buf = append(s.buf, frames...)
	s.bufBytes += n
	s.flushPollLocked()
	return nil
}

// takeBufLocked empties the polling buffer and returns its frames.
func (s *Session) takeBufLocked() []*outq.Frame {
	frames := s.buf
	s.buf, s.bufBytes = nil, 0
	s.wakeRoomLocked()
	return frames
}

// closeLocked closes s (see closeKind). The first reason given wins.
func (s *Session) closeLocked(reason string, kind closeKind) {
	switch s.state {
	case stateClosed:
		return
	case stateClosing:
		if kind == closeGraceful {
			return
		}
		if kind == closeFlush {
			kind = closeAbort
		}
	case stateOpen:
		s.reason = reason
		s.countCloseLocked()
	}
	s.stopTimersLocked()
	if s.probe != nil {
		s.probe.abort()
		s.probe, s.probed = nil, false
	}
	if kind == closeGraceful && s.ws == nil && s.get == nil && s.state == stateOpen {
		s.state = stateClosing
		s.wakeRoomLocked()
		s.drainTimer = time.AfterFunc(s.srv.cfg.pingTimeout, func() { s.closeWith(reason, closeAbort) })
		return
	}
	s.state = stateClosed
	answered := s.get != nil
	if g := s.get; g != nil {
		s.get = nil
		switch kind {
		case closeGraceful, closeFlush:
			g.answer(pollReply{frames: s.takeBufLocked(), tail: eio.Close})
		case closeByClient:
			g.answer(pollReply{tail: eio.Noop})
		default:
			g.answer(pollReply{tail: eio.Close})
		}
	}
	s.buf, s.bufBytes = nil, 0
	s.wakeRoomLocked()
	if s.ws != nil {
		switch {
		case s.reason == ReasonSlowConsumer: // however it was asked: the client is not reading
			s.ws.closeSlow()
		case kind == closeGraceful || kind == closeFlush:
			code := uint16(1000)
			if s.reason == ReasonServerShutdown {
				code = 1001
			}
			s.ws.closeGracefully(code)
		default:
			s.ws.abort()
		}
	}
	s.releaseSlotLocked()
	s.in.close(s.reason) // before unregister: Server.Close waits for OnClose
	switch {
	case !s.registered:
	case kind == closeByClient && s.ws == nil && !answered:
		// The client's GET may be racing its close POST: keep answering
		// that poll with noop, as if it had been pending, for a moment.
		s.lingering = true
		s.drainTimer = time.AfterFunc(clientCloseLinger, s.endLinger)
	default:
		s.srv.unregister(s)
	}
	s.srv.cfg.log.Debug("engine: session closed", "sid", s.id, "reason", s.reason)
}

// releaseSlotLocked ends the session's count as a polling connection.
func (s *Session) releaseSlotLocked() {
	if s.slot != nil {
		s.slot()
		s.slot = nil
	}
}

// CloseFor is Close for a client's fault the application found (a rate
// limit, say): the session's end counts under fault in the metrics, as a
// disconnect and a refusal, and is logged at warn (rate-limited).
func (s *Session) CloseFor(reason string, fault metrics.Reason) {
	s.mu.Lock()
	if s.state == stateOpen {
		s.fault, s.hasFault = fault, true
	}
	s.closeLocked(reason, closeGraceful)
	s.mu.Unlock()
}

// closeFault closes s at once for a client's fault that engine.io reports
// as reason but the metrics name more precisely (oversize, bad UTF-8).
func (s *Session) closeFault(reason string, fault metrics.Reason) {
	s.mu.Lock()
	if s.state == stateOpen {
		s.fault, s.hasFault = fault, true
	}
	s.closeLocked(reason, closeAbort)
	s.mu.Unlock()
}

// countCloseLocked counts the session's end once, by reason; the client's
// faults count as refusals too.
func (s *Session) countCloseLocked() {
	r := s.fault
	if !s.hasFault {
		r = metricReason(s.reason)
	}
	if r.Refusal() {
		s.srv.cfg.warn.Warn("engine: session closed: "+r.String(), "sid", s.id)
	}
	if m := s.srv.cfg.metrics; m != nil {
		m.Disconnected(metrics.KindSocketIO, r)
		m.Refused(r)
	}
}

// metricReason maps a close reason to its metrics label.
func metricReason(reason string) metrics.Reason {
	switch reason {
	case ReasonTransportClose:
		return metrics.ReasonClientClose
	case ReasonTransportError:
		return metrics.ReasonTransportError
	case ReasonPingTimeout:
		return metrics.ReasonPingTimeout
	case ReasonParseError:
		return metrics.ReasonParseError
	case ReasonForcedClose:
		return metrics.ReasonForcedClose
	case ReasonServerShutdown:
		return metrics.ReasonShutdown
	case ReasonSlowConsumer:
		return metrics.ReasonSlowConsumer
	}
	return metrics.ReasonOther
}

// clientCloseLinger is how long a session closed by its client's POST keeps
// its id for a GET sent alongside.
const clientCloseLinger = time.Second

// endLinger forgets a session closed by its client.
func (s *Session) endLinger() {
	s.mu.Lock()
	s.endLingerLocked()
	s.mu.Unlock()
}

func (s *Session) endLingerLocked() {
	if s.lingering {
		s.lingering = false
		s.drainTimer.Stop()
		s.srv.unregister(s)
	}
}

func (s *Session) stopTimersLocked() {
	s.srv.wheel.Stop(&s.beat)
	for _, t := range []*time.Timer{s.upgradeTimer, s.drainTimer} {
		if t != nil {
			t.Stop()
		}
	}
}

// Heartbeat: the server pings pingInterval after the handshake or the last
// pong and closes the session when no pong comes pingTimeout later. Both
// steps are one wheel.Timer (s.beat) on the server's node-wide wheel, not
// time.Timers of the session's own: an idle session holds no runtime timer,
// and a beat fires at most a wheel tick late (Config's ping settings / 40,
// at most 100 ms), never early.

func (s *Session) startHeartbeat() {
	s.mu.Lock()
	if s.state == stateOpen {
		s.beatAt = time.Now()
		s.srv.wheel.Reset(&s.beat, s.srv.cfg.pingInterval)
	}
	s.mu.Unlock()
}

// beatFirer is a Session as the wheel's Firer (no closure per session, and
// no exported method on Session).
type beatFirer Session

func (b *beatFirer) Fire() { (*Session)(b).onBeat() }

// onBeat runs on the wheel's goroutine: it pings once pingInterval has
// passed since the last beat, and closes the session once a ping has gone
// unanswered until pingInterval+pingTimeout after it.
func (s *Session) onBeat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen {
		return
	}
	since, deadline := time.Since(s.beatAt), s.srv.cfg.pingInterval+s.srv.cfg.pingTimeout
	switch {
	case !s.awaitingPong && since < s.srv.cfg.pingInterval:
		// Collected before a pong moved the beat; its new step is armed.
	case !s.awaitingPong:
		if s.pushLocked(framePing) != nil {
			return
		}
		s.awaitingPong = true
		// The deadline counts from the last beat, not from this (maybe late) step.
		s.srv.wheel.Reset(&s.beat, max(deadline-since, 0))
	case since < deadline:
		s.srv.wheel.Reset(&s.beat, deadline-since)
	default:
		s.closeLocked(ReasonPingTimeout, closeAbort)
	}
}

// checkBeatLocked closes s when its pong deadline has passed, in case the
// timer that should have done it runs late (a busy machine): a request
// arriving after the deadline must not find the session alive.
func (s *Session) checkBeatLocked() {
	if s.state == stateOpen && !s.beatAt.IsZero() &&
		time.Since(s.beatAt) > s.srv.cfg.pingInterval+s.srv.cfg.pingTimeout {
		s.closeLocked(ReasonPingTimeout, closeAbort)
	}
}

func (s *Session) onPong() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen {
		return
	}
	if s.beatAt.IsZero() { // before the heartbeat started
		return
	}
	s.beatAt = time.Now()
	s.awaitingPong = false
	s.srv.wheel.Reset(&s.beat, s.srv.cfg.pingInterval)
}

// onPacket handles a control or message packet from the client's current
// transport. It may block in deliver (see inbox). With inline, the caller
// (a WebSocket message's handler, which the read loop waits for) runs the
// message callbacks itself when no dispatcher is running.
func (s *Session) onPacket(p eio.Packet, inline bool) {
	switch p.Type {
	case eio.Message:
		if inline {
			s.in.deliverInline(p.Data, p.Binary)
		} else {
			s.in.deliver(p.Data, p.Binary)
		}
	case eio.Pong:
		s.onPong()
	case eio.Ping: // v4 clients never ping
		s.closeWith(ReasonTransportError, closeAbort)
	case eio.Close:
		s.closeWith(ReasonTransportClose, closeByClient)
	}
	// open, upgrade and noop from the client mean nothing here
}
