package wsedge

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/sockbus/sockbus/bus"
)

// HeaderUser names the authenticated user (a token's sub, or the connect
// hook's answer) on every bus message a client causes.
const HeaderUser = bus.HeaderUser

// AuthKind says what a client asks to enter.
type AuthKind string

const (
	AuthNamespace AuthKind = "namespace" // a Socket.IO namespace ("/chat")
	AuthChannel   AuthKind = "channel"   // a plain WebSocket channel
)

// AuthRequest is one connect attempt, as an Authorizer sees it.
type AuthRequest struct {
	Kind AuthKind
	// Name is the namespace (with its "/") or the channel.
	Name string
	// Token is auth.token of a Socket.IO CONNECT, or a plain WebSocket's
	// ?token= or "Authorization: Bearer" value; "" when absent.
	Token string
	// Auth is the Socket.IO CONNECT payload (`{}` when absent; nil for channels).
	Auth       json.RawMessage
	Header     http.Header
	Query      url.Values
	RemoteAddr string
	// Refresh is set when an admitted connection presents a new token
	// (RefreshEvent, RefreshKey); the grant's User must stay the same, its
	// Expires replaces the connection's, its Rooms, ClientRooms and Data
	// are ignored.
	Refresh bool
}

// Grant is an accepted connect.
type Grant struct {
	// User becomes Socket.User and the HeaderUser of the client's messages.
	User string
	// Expires disconnects the client at that time (zero: never).
	Expires time.Time
	// Rooms are joined before the client is told it is connected.
	Rooms []string
	// ClientRooms are the rooms a Socket.IO client may join and leave
	// itself (sockbus:join, sockbus:leave), besides the server's own list
	// (socketio.Config.ClientRooms): patterns where '*' matches any run of
	// bytes and "{user}" stands for User, byte for byte.
	ClientRooms []string
	// Data is stored with the socket (Socket.Get, fetchSockets data).
	Data map[string]any
}

// ConnectError refuses a connection with data for the client's
// connect_error (err.data in socket.io-client).
type ConnectError struct {
	Message string
	Data    any
	// Status is the HTTP status refusing a plain WebSocket (an Authorizer's
	// refusal); 0 means 403.
	Status int
	// Close closes the client's connection after the connect_error (a
	// middleware's answer to a client that keeps trying).
	Close bool
	// Err is the cause, for errors.Is and the server's own checks; never
	// sent to the client. Nil when Message says it all.
	Err error
}

// Error is the message the client gets.
func (e *ConnectError) Error() string { return e.Message }

// Unwrap returns the cause.
func (e *ConnectError) Unwrap() error { return e.Err }

// Authorizer decides whether a client may enter a namespace or channel.
// A refusal is an error; a *ConnectError carries the client's message,
// data and (for plain WebSocket) the HTTP status. Authorize runs on a
// connect's own goroutine and may block up to ctx's deadline.
type Authorizer interface {
	Authorize(ctx context.Context, req AuthRequest) (Grant, error)
}

// AuthTimeout bounds one Authorize call: a connect waits no longer for
// its Authorizer, so a connect hook's own bound (--auth-hook-timeout) may
// not exceed it.
const AuthTimeout = 10 * time.Second

// Refusal turns an Authorize error into the client's message, data and
// HTTP status (403 unless the error says otherwise).
func Refusal(err error) (string, any, int) {
	var ce *ConnectError
	if errors.As(err, &ce) {
		status := ce.Status
		if status == 0 {
			status = http.StatusForbidden
		}
		return ce.Message, ce.Data, status
	}
	return "unauthorized", nil, http.StatusForbidden
}
