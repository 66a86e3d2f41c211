package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Kind says what a client asks to enter.
type Kind string

const (
	Namespace Kind = "namespace" // a Socket.IO namespace, with its "/"
	Channel   Kind = "channel"   // a plain WebSocket channel
)

// Request is one connect attempt.
type Request struct {
	Kind       Kind
	Name       string
	Token      string          // auth.token, ?token= or Authorization: Bearer
	Auth       json.RawMessage // the Socket.IO CONNECT payload
	Header     http.Header
	Query      url.Values
	RemoteAddr string
	// Refresh: an admitted connection presents a new token; the same
	// checks run, the caller keeps only the user and expiry.
	Refresh bool
}

// Grant is an accepted connect.
type Grant struct {
	User    string
	Expires time.Time
	Rooms   []string
	Data    map[string]any
}

// Refusal is a refused connect: Message and Data go to the client
// (connect_error's message and data), Status is the HTTP status a plain
// WebSocket gets (401: no valid credentials, 403: not allowed).
type Refusal struct {
	Message string
	Data    any
	Status  int
	Err     error // the cause, for logs; nil when Message says it all
}

func (r *Refusal) Error() string {
	if r.Err != nil {
		return r.Message + ": " + r.Err.Error()
	}
	return r.Message
}

func (r *Refusal) Unwrap() error { return r.Err }

// Config says which checks run; its zero value admits everyone.
type Config struct {
	// JWT, when set, requires a valid token on every connect.
	JWT *Verifier
	// Hook, when set, asks a NATS responder about every connect (after
	// the token, if any, was verified).
	Hook *Hook
	// Namespaces and Channels are the names that exist; nil: any name.
	Namespaces, Channels Patterns
}

// Authenticator applies a Config. Safe for concurrent use.
type Authenticator struct{ cfg Config }

// New returns an Authenticator for cfg.
func New(cfg Config) *Authenticator { return &Authenticator{cfg: cfg} }

// Open reports whether nothing is checked: any client may enter any name.
func (a *Authenticator) Open() bool {
	return a.cfg.JWT == nil && a.cfg.Hook == nil
}

// Authenticate admits or refuses one connect; a refusal is a *Refusal.
func (a *Authenticator) Authenticate(ctx context.Context, req Request) (Grant, error) {
	exists := a.cfg.Namespaces
	if req.Kind == Channel {
		exists = a.cfg.Channels
	}
	if exists != nil && !exists.Match(req.Name) {
		return Grant{}, &Refusal{Message: "unknown " + string(req.Kind), Status: http.StatusNotFound}
	}
	var g Grant
	if a.cfg.JWT != nil {
		c, err := a.cfg.JWT.Verify(req.Token)
		if err != nil {
			msg := ErrTokenInvalid.Error()
			switch {
			case errors.Is(err, ErrTokenMissing):
				msg = ErrTokenMissing.Error()
			case errors.Is(err, ErrTokenExpired):
				msg = ErrTokenExpired.Error()
			}
			return Grant{}, &Refusal{Message: msg, Data: map[string]any{"status": http.StatusUnauthorized}, Status: http.StatusUnauthorized, Err: err}
		}
		if c.Sockbus != nil {
			allowed := c.Sockbus.Namespaces
			if req.Kind == Channel {
				allowed = c.Sockbus.Channels
			}
			if allowed != nil && !allowed.Match(req.Name) {
				return Grant{}, &Refusal{Message: string(req.Kind) + " not allowed", Data: map[string]any{"status": http.StatusForbidden}, Status: http.StatusForbidden}
			}
		}
		g.User = c.Subject
		g.Expires = c.ExpiresAt.Time
	}
	if a.cfg.Hook != nil {
		hg, err := a.cfg.Hook.Ask(ctx, req, g.User)
		if err != nil {
			return Grant{}, err
		}
		if hg.User != "" {
			g.User = hg.User
		}
		if !hg.Expires.IsZero() && (g.Expires.IsZero() || hg.Expires.Before(g.Expires)) {
			g.Expires = hg.Expires
		}
		g.Rooms, g.Data = hg.Rooms, hg.Data
	}
	return g, nil
}
