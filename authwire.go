package main

import (
	"log/slog"
	"strings"
	"time"

	"github.com/sockbus/sockbus/auth"
	"github.com/sockbus/sockbus/bus"
	conf "github.com/sockbus/sockbus/config"
	"github.com/sockbus/sockbus/handlers"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/channels"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// authFlags are the flags that lock the binary down (docs/security.md).
type authFlags struct {
	JWTKey      string        // HMAC secret, or @file (PEM public keys or JWKS)
	JWTAudience string        // required in a token's aud when set
	JWTIssuer   string        // required as a token's iss when set
	Hook        bool          // ask a NATS responder about every connect
	HookSubject string        // default auth.HookSubject
	HookTimeout time.Duration // default 2s
	HookHeaders []string      // default auth.DefaultHookHeaders
	Namespaces  []string      // patterns of the namespaces that exist; empty: any
	Channels    []string      // patterns of the channels that exist; empty: any
	AdminUI     bool          // the admin namespace passes (its own login)

	MaxNamespaces   int64 // per Socket.IO connection
	MaxRooms        int64 // per socket
	EventsPerSecond int64 // per connection, Socket.IO events or WebSocket frames; 0: no limit
	EventBurst      int64 // 0: ten times EventsPerSecond
}

// authFlagsOf picks the auth settings out of the configuration.
func authFlagsOf(c conf.Config) authFlags {
	return authFlags{
		JWTKey: c.AuthJWTKey, JWTAudience: c.AuthJWTAudience, JWTIssuer: c.AuthJWTIssuer, Hook: c.AuthHook, HookSubject: c.AuthHookSubject,
		HookTimeout: c.AuthHookTimeout, HookHeaders: c.AuthHookHeaders,
		Namespaces: c.Namespaces, Channels: c.Channels, AdminUI: c.AdminUI,
		MaxNamespaces: c.MaxNamespacesPerConn, MaxRooms: c.MaxRoomsPerSocket,
		EventsPerSecond: c.MaxEventsPerSecond, EventBurst: c.MaxEventBurst,
	}
}

// newAuthorizer builds the Authorizer main gives both edges; nil when
// nothing is checked (then one warning says the server is open). v is
// preflight's verifier of a.JWTKey (built here when nil).
func newAuthorizer(a authFlags, v *auth.Verifier, b *bus.Bus, logger *slog.Logger) (wsedge.Authorizer, error) {
	cfg := auth.Config{}
	if a.AdminUI {
		cfg.OwnLogin = auth.Patterns{handlers.AdminNamespace} // the admin UI has its own login
	}
	if len(a.Namespaces) > 0 {
		cfg.Namespaces = auth.Patterns(a.Namespaces)
	}
	if len(a.Channels) > 0 {
		cfg.Channels = auth.Patterns(a.Channels)
	}
	if a.JWTKey != "" {
		if v == nil {
			var err error
			if v, err = jwtVerifier(a); err != nil {
				return nil, err
			}
		}
		cfg.JWT = v
	}
	if a.Hook {
		if strings.HasPrefix(a.HookSubject, bus.Prefix) {
			logger.Warn("--auth-hook-subject is inside sockbus.>: whoever watches sockbus traffic reads every client's token; the default is outside it",
				"subject", a.HookSubject, "default", auth.HookSubject)
		}
		cfg.Hook = auth.NewHook(b, auth.HookConfig{
			Subject: a.HookSubject, Timeout: a.HookTimeout,
			Headers: a.HookHeaders, Logger: logger,
		})
	}
	au := auth.New(cfg)
	if au.Open() {
		logger.Warn("no authentication configured: every client may connect to every namespace and channel; see --auth-jwt-key and --auth-hook")
		if cfg.Namespaces == nil && cfg.Channels == nil {
			return nil, nil
		}
	}
	return au, nil
}

// rate turns --max-events-per-second into wsedge's (negative: no limit).
func (a authFlags) rate() float64 {
	if a.EventsPerSecond <= 0 {
		return -1
	}
	return float64(a.EventsPerSecond)
}

// channelLimits sets the plain WebSocket limits of the flags.
func (a authFlags) channelLimits(c channels.Config) channels.Config {
	c.MessagesPerSecond, c.MessageBurst = a.rate(), int(a.EventBurst)
	return c
}

// socketIOLimits sets the Socket.IO limits of the flags.
func (a authFlags) socketIOLimits(c socketio.Config) socketio.Config {
	c.MaxNamespaces, c.MaxRooms = int(a.MaxNamespaces), int(a.MaxRooms)
	c.EventsPerSecond, c.EventBurst = a.rate(), int(a.EventBurst)
	return c
}
