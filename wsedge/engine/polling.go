package engine

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/eio"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// pollWaiter is a GET waiting for something to send. It is answered once.
type pollWaiter struct {
	ch chan pollReply
}

// pollReply is a poll response: frames, then tail if not zero.
type pollReply struct {
	frames []*outq.Frame
	tail   eio.Type
}

func (g *pollWaiter) answer(r pollReply) { g.ch <- r }

// flushPollLocked answers the waiting GET with the buffered frames. Polling
// stays writable during an upgrade, as in engine.io: the frames go to
// whichever transport can carry them first, in order.
func (s *Session) flushPollLocked() {
	if g := s.get; g != nil && len(s.buf) > 0 {
		s.get = nil
		g.answer(pollReply{frames: s.takeBufLocked()})
	}
}

// servePollingHandshake opens a polling session; the response carries the
// open packet and whatever onSession sent.
func (srv *Server) servePollingHandshake(w http.ResponseWriter, r *http.Request, hs Handshake) {
	var slot func()
	if l := srv.cfg.limits; l != nil {
		release, ok := l.AdmitPerIP(hs.Address)
		if !ok { // the limiter warned
			writeError(w, codeBadRequest, "Too many connections", http.StatusServiceUnavailable)
			return
		}
		slot = release
	}
	s := srv.newSession(hs)
	s.slot = slot
	if srv.onSession != nil {
		srv.onSession(s)
	}
	open := srv.openPacket(s.id, false)
	if !srv.register(s) {
		s.mu.Lock()
		closedByApp := s.state != stateOpen
		frames := s.takeBufLocked()
		s.closeLocked(ReasonServerShutdown, closeAbort)
		s.mu.Unlock()
		if !closedByApp {
			writeError(w, codeBadRequest, "Server shutting down", http.StatusServiceUnavailable)
			return
		}
		writePoll(w, r, open, pollReply{frames: frames, tail: eio.Close})
		return
	}
	srv.cfg.log.Debug("engine: session opened", "sid", s.id, "transport", TransportPolling)
	s.startHeartbeat()
	s.mu.Lock()
	reply := pollReply{frames: s.takeBufLocked()}
	if s.state != stateOpen { // closed meanwhile (Server.Close, or Close from another goroutine)
		reply.tail = eio.Close
		s.closeLocked(s.reason, closeAbort)
	}
	s.mu.Unlock()
	writePoll(w, r, open, reply)
}

// servePoll answers a GET of session s: at once when frames are buffered,
// else when some arrive, the session closes or an upgrade takes over.
func (srv *Server) servePoll(w http.ResponseWriter, r *http.Request, s *Session) {
	s.mu.Lock()
	s.checkBeatLocked()
	switch {
	case s.lingering:
		s.endLingerLocked()
		s.mu.Unlock()
		writePoll(w, r, nil, pollReply{tail: eio.Noop})
		return
	case s.state == stateClosed:
		s.mu.Unlock()
		writeError(w, codeUnknownSID, "", 0)
		return
	case s.ws != nil:
		s.mu.Unlock()
		writeError(w, codeBadRequest, "", 0)
		return
	case s.get != nil: // overlapping polls: the session is broken
		s.closeLocked(ReasonTransportError, closeAbort)
		s.mu.Unlock()
		writeError(w, codeBadRequest, "", 0)
		return
	case s.state == stateClosing:
		reply := pollReply{frames: s.takeBufLocked(), tail: eio.Close}
		s.closeLocked(s.reason, closeAbort)
		s.mu.Unlock()
		writePoll(w, r, nil, reply)
		return
	case len(s.buf) > 0:
		reply := pollReply{frames: s.takeBufLocked()}
		s.mu.Unlock()
		writePoll(w, r, nil, reply)
		return
	case s.probed:
		// A client that saw "3probe" pauses polling and waits for this
		// poll (sent before it did) to end before it completes the
		// upgrade, holding its own writes: answer at once.
		s.mu.Unlock()
		writePoll(w, r, nil, pollReply{tail: eio.Noop})
		return
	}
	g := &pollWaiter{ch: make(chan pollReply, 1)}
	s.get = g
	s.mu.Unlock()
	select {
	case reply := <-g.ch:
		writePoll(w, r, nil, reply)
	case <-r.Context().Done(): // the client went away: what it missed is lost
		s.closeWith(ReasonTransportError, closeAbort)
	}
}

// writePoll writes a poll response: open (if any), then the reply's frames
// and tail, as one payload.
func writePoll(w http.ResponseWriter, r *http.Request, open []byte, reply pollReply) {
	n := len(open) + 2
	for _, f := range reply.frames {
		n += len(f.Payload())*4/3 + 4
	}
	b := make([]byte, 0, n)
	b = append(b, open...)
	for _, f := range reply.frames {
		if len(b) > 0 {
			b = append(b, eio.Separator)
		}
		b = eio.AppendPayload(b, framePacket(f))
	}
	if reply.tail != 0 {
		if len(b) > 0 {
			b = append(b, eio.Separator)
		}
		b = append(b, byte(reply.tail))
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	setPollingHeaders(h, r)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// framePacket views a frame (a whole WebSocket message payload, validated by
// Send) as the Engine.IO packet it carries.
func framePacket(f *outq.Frame) eio.Packet {
	p := f.Payload()
	if f.Binary() {
		return eio.Packet{Type: eio.Message, Data: p, Binary: true}
	}
	return eio.Packet{Type: eio.Type(p[0]), Data: p[1:]}
}

func setPollingHeaders(h http.Header, r *http.Request) {
	h.Set("Cache-Control", "no-store")
	if ua := r.UserAgent(); strings.Contains(ua, ";MSIE") || strings.Contains(ua, "Trident/") {
		h.Set("X-XSS-Protection", "0")
	}
}

var (
	errStop              = errors.New("stop")
	errHeartbeatFromPeer = errors.New("engine: ping from client")
	errInvalidUTF8       = errors.New("engine: payload is not UTF-8")
)

// servePost reads the packets a client POSTs to session s.
func (srv *Server) servePost(w http.ResponseWriter, r *http.Request, s *Session) {
	s.mu.Lock()
	s.checkBeatLocked()
	switch {
	case s.state == stateClosed:
		s.mu.Unlock()
		writeError(w, codeUnknownSID, "", 0)
		return
	case s.ws != nil:
		s.mu.Unlock()
		writeError(w, codeBadRequest, "", 0)
		return
	case s.posting || r.Header.Get("Content-Type") == "application/octet-stream":
		// overlapping POSTs, or a binary body v4 never sends
		s.closeLocked(ReasonTransportError, closeAbort)
		s.mu.Unlock()
		writeError(w, codeBadRequest, "", 0)
		return
	}
	open := s.state == stateOpen
	s.posting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.posting = false
		s.mu.Unlock()
	}()

	max := srv.cfg.maxPayload
	if r.ContentLength > int64(max) {
		s.closeFault(ReasonTransportError, metrics.ReasonOversize)
		tooLarge(w)
		return
	}
	// The header timeout does not cover the body: without this deadline a
	// client trickling a byte a second holds the request for ever.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(srv.cfg.bodyTimeout))
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	if err != nil {
		s.closeWith(ReasonTransportError, closeAbort)
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			srv.cfg.warn.Warn("engine: polling body too slow", "timeout", srv.cfg.bodyTimeout, "remote", r.RemoteAddr)
			http.Error(w, "request body not received in time", http.StatusRequestTimeout)
		}
		return
	}
	if len(body) > max {
		s.closeFault(ReasonTransportError, metrics.ReasonOversize)
		tooLarge(w)
		return
	}
	if open {
		err = srv.readPayload(s, body)
	}
	switch {
	case err == nil || err == errStop:
	case err == errHeartbeatFromPeer:
		s.closeWith(ReasonTransportError, closeAbort)
		writeError(w, codeBadRequest, "", 0)
		return
	case err == errInvalidUTF8:
		s.closeFault(ReasonParseError, metrics.ReasonBadUTF8)
		writeError(w, codeBadRequest, "", 0)
		return
	default:
		s.closeWith(ReasonParseError, closeAbort)
		writeError(w, codeBadRequest, "", 0)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	setPollingHeaders(h, r)
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "ok")
}

// readPayload hands the packets of a POST body to s in order.
func (srv *Server) readPayload(s *Session, body []byte) error {
	if !utf8.Valid(body) {
		return errInvalidUTF8
	}
	return eio.DecodePayload(body, func(p eio.Packet) error {
		switch p.Type {
		case eio.Ping:
			return errHeartbeatFromPeer
		case eio.Close:
			s.closeWith(ReasonTransportClose, closeByClient)
			return errStop
		case eio.Message:
			p.Data = bytes.Clone(p.Data)
		}
		s.onPacket(p, false)
		return nil
	})
}

func tooLarge(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	http.Error(w, "Payload Too Large", http.StatusRequestEntityTooLarge)
}
