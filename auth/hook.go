package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/wsedge"
)

// HookSubject is where connect requests are published by default: outside
// sockbus.>, as the requests carry credentials (bus.AuthHookSubject).
const HookSubject = bus.AuthHookSubject

// DefaultHookTimeout is HookConfig.Timeout's default (--auth-hook-timeout).
const DefaultHookTimeout = 2 * time.Second

// DefaultHookHeaders is HookConfig.Headers' default (--auth-hook-headers):
// a fresh slice on each call.
func DefaultHookHeaders() []string { return []string{"Origin", "User-Agent"} }

// HookConfig configures the NATS connect hook. The zero value (plus a
// bus) works.
type HookConfig struct {
	// Subject is the request subject. Default HookSubject.
	Subject string
	// Timeout refuses a connect whose request got no reply in time.
	// Default DefaultHookTimeout.
	Timeout time.Duration
	// Headers are the request headers passed on (canonical names); the
	// others stay private. Default DefaultHookHeaders (Origin, User-Agent).
	Headers []string
	// Logger receives failed requests (rate-limited). Default slog.Default().
	Logger *slog.Logger
}

// Hook asks a NATS responder whether a client may connect.
type Hook struct {
	b   *bus.Bus
	cfg HookConfig
	log *ratelog.Logger
}

// NewHook returns a hook publishing its requests on b.
func NewHook(b *bus.Bus, cfg HookConfig) *Hook {
	if cfg.Subject == "" {
		cfg.Subject = HookSubject
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultHookTimeout
	}
	headers := cfg.Headers
	if headers == nil {
		headers = DefaultHookHeaders()
	}
	cfg.Headers = make([]string, len(headers)) // the caller's slice is left as it was
	for i, h := range headers {
		cfg.Headers[i] = http.CanonicalHeaderKey(h)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Hook{b: b, cfg: cfg, log: ratelog.New(cfg.Logger, 0)}
}

// HookRequest is the JSON body of a connect request.
type HookRequest struct {
	Kind          wsedge.AuthKind     `json:"kind"` // "namespace" or "channel"
	Name          string              `json:"name"` // "/chat", or the channel
	Token         string              `json:"token,omitempty"`
	User          string              `json:"user,omitempty"` // a verified token's sub
	Auth          json.RawMessage     `json:"auth,omitempty"` // the Socket.IO CONNECT payload
	Headers       map[string][]string `json:"headers,omitempty"`
	Query         url.Values          `json:"query,omitempty"`
	RemoteAddress string              `json:"remote_address"`
	// Refresh is true when an admitted connection presents a new token:
	// only allow, user (which must not change) and expires are used.
	Refresh bool `json:"refresh,omitempty"`
}

// HookReply is the JSON body of the answer. Allow true may name the user,
// rooms to join, the rooms the client may join itself (client_rooms:
// patterns as --client-rooms, added to it), socket data (an object) and
// an expiry; allow false
// refuses with Message and Data for the client (connect_error's message
// and data; a plain WebSocket gets 403 and Message).
type HookReply struct {
	Allow bool     `json:"allow"`
	User  string   `json:"user,omitempty"`
	Rooms []string `json:"rooms,omitempty"`
	// ClientRooms are patterns of the rooms the client may join itself.
	ClientRooms []string        `json:"client_rooms,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
	Expires     int64           `json:"expires,omitempty"` // Unix seconds; 0: never
	Message     string          `json:"message,omitempty"`
}

// Ask publishes the request and waits for the first reply.
func (h *Hook) Ask(ctx context.Context, req wsedge.AuthRequest, user string) (wsedge.Grant, error) {
	body := HookRequest{
		Kind: req.Kind, Name: req.Name, Token: req.Token, User: user, Auth: req.Auth,
		Query: req.Query, RemoteAddress: req.RemoteAddr, Refresh: req.Refresh,
	}
	for _, k := range h.cfg.Headers {
		if v := req.Header.Values(k); len(v) > 0 {
			if body.Headers == nil {
				body.Headers = map[string][]string{}
			}
			body.Headers[k] = v
		}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return wsedge.Grant{}, h.unavailable(fmt.Errorf("failed to encode the request: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	msg, err := h.b.Request(ctx, &bus.Msg{Subject: h.cfg.Subject, Data: raw})
	if err != nil {
		return wsedge.Grant{}, h.unavailable(err)
	}
	var rep HookReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return wsedge.Grant{}, h.unavailable(fmt.Errorf("failed to decode the reply from %s: %w", h.cfg.Subject, err))
	}
	if !rep.Allow {
		m := rep.Message
		if m == "" {
			m = "unauthorized"
		}
		var data any
		if len(rep.Data) > 0 {
			data = rep.Data
		}
		return wsedge.Grant{}, &wsedge.ConnectError{Message: m, Data: data, Status: http.StatusForbidden}
	}
	g := wsedge.Grant{User: rep.User, Rooms: rep.Rooms, ClientRooms: rep.ClientRooms}
	if len(rep.Data) > 0 && string(rep.Data) != "null" {
		if err := json.Unmarshal(rep.Data, &g.Data); err != nil {
			return wsedge.Grant{}, h.unavailable(fmt.Errorf("failed to decode the reply's data (an object): %w", err))
		}
	}
	if rep.Expires > 0 {
		g.Expires = time.Unix(rep.Expires, 0)
	}
	return g, nil
}

// ErrHookUnavailable: no reply in time, or one that could not be read.
var ErrHookUnavailable = errors.New("connect hook unavailable")

func (h *Hook) unavailable(err error) error {
	h.log.Warn("connect hook failed", "err", err)
	return &wsedge.ConnectError{Message: ErrHookUnavailable.Error(), Data: map[string]any{"status": http.StatusServiceUnavailable},
		Status: http.StatusServiceUnavailable, Err: err}
}
