package wsedge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/lxzan/gws"

	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// RefreshEvent is the Socket.IO event a client emits, with its new token as
// the only argument and an ack, to move its connection's expiry:
// socket.emitWithAck("sockbus:refresh", token). The ack is
// {"ok":true,"exp":<Unix seconds, 0: never>} or {"error":<reason>}.
// The event is not relayed, stored or dispatched to handlers.
const RefreshEvent = "sockbus:refresh"

// RefreshKey names a plain WebSocket refresh: a text frame that is the JSON
// object {"sockbus:refresh":"<token>"} is answered on the same connection
// only, with {"sockbus:refresh":{"ok":true,"exp":…}} or
// {"sockbus:refresh":{"error":…}}, and never reaches the channel. Only
// connections admitted by an Authorizer treat such frames so; on an open
// server they are ordinary messages.
const RefreshKey = RefreshEvent

// Why a refresh is refused, besides the Authorizer's own reasons ("invalid
// token", "token expired", "namespace not allowed", ...).
const (
	ErrRefreshNoAuth      = "authentication is off"
	ErrRefreshNoToken     = "token required"
	ErrRefreshOtherUser   = "token is for another user"
	ErrRefreshUnavailable = "refresh unavailable"
)

// refreshGrant asks a for a connection's new token: the same checks as a
// connect (with Refresh set), and the same user. It returns the new expiry
// or the client's reason.
func refreshGrant(a Authorizer, req AuthRequest, user string) (time.Time, string) {
	if a == nil {
		return time.Time{}, ErrRefreshNoAuth
	}
	if req.Token == "" {
		return time.Time{}, ErrRefreshNoToken
	}
	req.Refresh = true
	ctx, cancel := context.WithTimeout(context.Background(), authTimeout)
	defer cancel()
	g, err := a.Authorize(ctx, req)
	if err != nil {
		msg, _, _ := refusal(err)
		return time.Time{}, msg
	}
	if g.User != user {
		return time.Time{}, ErrRefreshOtherUser
	}
	return g.Expires, ""
}

// refreshAnswer is the body of a successful refresh's answer.
func refreshAnswer(exp time.Time) []byte {
	var unix int64
	if !exp.IsZero() {
		unix = exp.Unix()
	}
	return []byte(`{"ok":true,"exp":` + strconv.FormatInt(unix, 10) + `}`)
}

// refreshError is the body of a refused refresh's answer.
func refreshError(reason string) []byte {
	b, _ := json.Marshal(map[string]string{"error": reason})
	return b
}

// refresh handles a Socket.IO RefreshEvent off the connection's goroutine
// (the Authorizer may ask a NATS hook).
func (s *Socket) refresh(e *Event) {
	var tok string
	if len(e.Args) > 0 {
		_ = e.Arg(0, &tok)
	}
	go func() {
		exp, reason := refreshGrant(s.ns.srv.cfg.Authorizer, AuthRequest{
			Kind: AuthNamespace, Name: s.ns.name, Token: tok, Auth: s.hs.Auth,
			Header: s.hs.Header, Query: s.hs.Query, RemoteAddr: s.hs.RemoteAddr,
		}, s.user)
		if reason != "" {
			s.ns.srv.metrics.Refused(metrics.ReasonAuth)
			s.ns.srv.warn.Warn("token refresh refused", "namespace", s.ns.name, "socket", s.id, "reason", reason)
			_ = e.AckError(reason)
			return
		}
		s.expiry.set(exp, func() { s.disconnectWith(ReasonTokenExpired) })
		_ = e.AckRaw(append(append([]byte{'['}, refreshAnswer(exp)...), ']'), nil)
	}()
}

// expiryTimer ends a connection when its token (or grant) expires; a
// refresh moves it. The zero value is stopped; safe for concurrent use.
type expiryTimer struct {
	mu    sync.Mutex
	t     *time.Timer
	ended bool // stop was called: never fires again
}

// set makes fire run at at (zero: never), replacing any earlier time.
func (x *expiryTimer) set(at time.Time, fire func()) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ended {
		return
	}
	if x.t != nil {
		x.t.Stop()
		x.t = nil
	}
	if !at.IsZero() {
		x.t = time.AfterFunc(time.Until(at), fire)
	}
}

// stop cancels the timer for good (the connection is gone).
func (x *expiryTimer) stop() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.ended = true
	if x.t != nil {
		x.t.Stop()
		x.t = nil
	}
}

// refreshTemplate keeps what a plain WebSocket's refreshes ask the
// Authorizer with: the connect's request, without its token.
func refreshTemplate(r *http.Request, name string) *AuthRequest {
	q := r.URL.Query()
	q.Del("token")
	h := r.Header.Clone()
	h.Del("Authorization")
	return &AuthRequest{Kind: AuthChannel, Name: name, Header: h, Query: q, RemoteAddr: r.RemoteAddr}
}

// refreshPrefix starts every plain WebSocket refresh frame.
var refreshPrefix = []byte(`{"` + RefreshKey + `":`)

// refreshToken reports whether msg is a refresh frame for cc (a connection
// admitted by an Authorizer), and its token ("" when it carries none).
func refreshToken(cc *channelConn, msg *gws.Message) (string, bool) {
	if cc.authReq == nil || msg.Opcode != gws.OpcodeText || !bytes.HasPrefix(msg.Bytes(), refreshPrefix) {
		return "", false
	}
	var body map[string]json.RawMessage
	if json.Unmarshal(msg.Bytes(), &body) != nil || len(body) != 1 {
		return "", false
	}
	var tok string
	_ = json.Unmarshal(body[RefreshKey], &tok)
	return tok, true
}

// refresh answers a plain WebSocket refresh frame on cc alone, off the
// read goroutine.
func (c *Channels) refresh(cc *channelConn, tok string) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		req := *cc.authReq
		req.Token = tok
		exp, reason := refreshGrant(c.cfg.Authorizer, req, cc.user)
		answer := refreshError(reason)
		if reason == "" {
			cc.expiry.set(exp, func() { cc.closeWith(CloseTokenExpired, ReasonTokenExpired) })
			answer = refreshAnswer(exp)
		} else {
			c.cfg.Metrics.Refused(metrics.ReasonAuth)
			c.warn.Warn("token refresh refused", "channel", req.Name, "conn", cc.id, "reason", reason)
		}
		f := outq.NewFrame(false, append(append(append([]byte(nil), refreshPrefix...), answer...), '}'))
		if err := cc.q.Push(f); errors.Is(err, outq.ErrFull) {
			c.closeAsync(cc, CloseSlowConsumer, ReasonSlowConsumer)
		}
	}()
}
