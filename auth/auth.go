package auth

import (
	"context"
	"errors"
	"net/http"

	"github.com/sockbus/sockbus/wsedge"
)

// Config says which checks run; its zero value admits everyone.
type Config struct {
	// JWT, when set, requires a valid token on every connect.
	JWT *Verifier
	// Hook, when set, asks a NATS responder about every connect (after
	// the token, if any, was verified).
	Hook *Hook
	// Namespaces and Channels are the names that exist; nil: any name.
	Namespaces, Channels Patterns
	// OwnLogin lists the namespaces that run their own login (the admin
	// UI's /admin): admitted with no check here, names lists included.
	OwnLogin Patterns
}

// Authenticator applies a Config: it is the wsedge.Authorizer both edges
// call on every connect. Safe for concurrent use.
type Authenticator struct{ cfg Config }

var _ wsedge.Authorizer = (*Authenticator)(nil)

// New returns an Authenticator for cfg.
func New(cfg Config) *Authenticator { return &Authenticator{cfg: cfg} }

// Open reports whether nothing is checked: any client may enter any name.
func (a *Authenticator) Open() bool {
	return a.cfg.JWT == nil && a.cfg.Hook == nil
}

// Authorize admits or refuses one connect; a refusal is a
// *wsedge.ConnectError (its Err, when set, the cause for the logs).
func (a *Authenticator) Authorize(ctx context.Context, req wsedge.AuthRequest) (wsedge.Grant, error) {
	if req.Kind == wsedge.AuthNamespace && a.cfg.OwnLogin.Match(req.Name) {
		return wsedge.Grant{}, nil
	}
	exists := a.cfg.Namespaces
	if req.Kind == wsedge.AuthChannel {
		exists = a.cfg.Channels
	}
	if exists != nil && !exists.Match(req.Name) {
		return wsedge.Grant{}, &wsedge.ConnectError{Message: "unknown " + string(req.Kind), Status: http.StatusNotFound}
	}
	var g wsedge.Grant
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
			return wsedge.Grant{}, &wsedge.ConnectError{Message: msg, Data: map[string]any{"status": http.StatusUnauthorized}, Status: http.StatusUnauthorized, Err: err}
		}
		if c.Sockbus != nil {
			allowed := c.Sockbus.Namespaces
			if req.Kind == wsedge.AuthChannel {
				allowed = c.Sockbus.Channels
			}
			if allowed != nil && !allowed.Match(req.Name) {
				return wsedge.Grant{}, &wsedge.ConnectError{Message: string(req.Kind) + " not allowed", Data: map[string]any{"status": http.StatusForbidden}, Status: http.StatusForbidden}
			}
			g.ClientRooms = c.Sockbus.Rooms
		}
		g.User = c.Subject
		g.Expires = c.ExpiresAt.Time
	}
	if a.cfg.Hook != nil {
		hg, err := a.cfg.Hook.Ask(ctx, req, g.User)
		if err != nil {
			return wsedge.Grant{}, err
		}
		if hg.User != "" {
			g.User = hg.User
		}
		if !hg.Expires.IsZero() && (g.Expires.IsZero() || hg.Expires.Before(g.Expires)) {
			g.Expires = hg.Expires
		}
		g.Rooms, g.Data = hg.Rooms, hg.Data
		g.ClientRooms = append(g.ClientRooms[:len(g.ClientRooms):len(g.ClientRooms)], hg.ClientRooms...)
	}
	return g, nil
}
