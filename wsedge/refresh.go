package wsedge

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"
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

// RefreshGrant asks a for a connection's new token: the same checks as a
// connect (with Refresh set), and the same user. It returns the new expiry
// or the client's reason.
func RefreshGrant(a Authorizer, req AuthRequest, user string) (time.Time, string) {
	if a == nil {
		return time.Time{}, ErrRefreshNoAuth
	}
	if req.Token == "" {
		return time.Time{}, ErrRefreshNoToken
	}
	req.Refresh = true
	ctx, cancel := context.WithTimeout(context.Background(), AuthTimeout)
	defer cancel()
	g, err := a.Authorize(ctx, req)
	if err != nil {
		msg, _, _ := Refusal(err)
		return time.Time{}, msg
	}
	if g.User != user {
		return time.Time{}, ErrRefreshOtherUser
	}
	return g.Expires, ""
}

// RefreshAnswer is the body of a successful refresh's answer.
func RefreshAnswer(exp time.Time) []byte {
	var unix int64
	if !exp.IsZero() {
		unix = exp.Unix()
	}
	return []byte(`{"ok":true,"exp":` + strconv.FormatInt(unix, 10) + `}`)
}

// RefreshError is the body of a refused refresh's answer.
func RefreshError(reason string) []byte {
	b, _ := json.Marshal(map[string]string{"error": reason})
	return b
}

// ExpiryTimer ends a connection when its token (or grant) expires; a
// refresh moves it. The zero value is stopped; safe for concurrent use.
type ExpiryTimer struct {
	mu    sync.Mutex
	t     *time.Timer
	ended bool // stop was called: never fires again
}

// Set makes fire run at at (zero: never), replacing any earlier time.
func (x *ExpiryTimer) Set(at time.Time, fire func()) {
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

// Stop cancels the timer for good (the connection is gone).
func (x *ExpiryTimer) Stop() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.ended = true
	if x.t != nil {
		x.t.Stop()
		x.t = nil
	}
}
