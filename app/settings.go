package app

import (
	"log/slog"
	"time"

	"github.com/sockbus/sockbus/auth"
	"github.com/sockbus/sockbus/bus"
	conf "github.com/sockbus/sockbus/config"
	"github.com/sockbus/sockbus/handlers"
	"github.com/sockbus/sockbus/health"
	"github.com/sockbus/sockbus/internal/connlimit"
	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/channels"
	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// The operator's settings become each package's Config here, one function
// per package, each reading the whole conf.Config: what a package gets is
// decided in one place. What a setting cannot give (the bus, the
// authorizer, shared budgets, the logger's sinks) run fills in.

// busConfig is the bus's share: store, retention, layout, cluster, and
// the external NATS of a stateless edge (--nats-url).
func busConfig(c conf.Config, logger *slog.Logger) bus.Config {
	return bus.Config{
		External:     externalNATS(c),
		DataDir:      c.DataDir,
		NATSAddr:     c.NATSAddr,
		NATSUser:     c.NATSUser,
		NATSPassword: c.NATSPassword,
		MaxPayload:   c.MaxMessageBytes,
		History: bus.HistoryConfig{
			MaxAge:   noLimitIfZero(c.HistoryMaxAge),
			MaxMsgs:  c.HistoryMaxMsgs,
			MaxBytes: c.HistoryMaxBytes,
		},
		Layout: bus.LayoutConfig{
			SharedStreams: int(c.SharedStreams),
			OwnNamespaces: c.OwnNamespaces,
			OwnChannels:   c.OwnChannels,
			LegacyStreams: c.LegacyStreams,
		},
		Cluster: bus.ClusterConfig{
			Name:     c.ClusterName,
			Listen:   c.ClusterAddr,
			Routes:   c.Routes,
			NodeName: c.NodeName,
			User:     c.ClusterUser,
			Password: c.ClusterPassword,
			TLSCert:  c.ClusterTLSCert,
			TLSKey:   c.ClusterTLSKey,
			TLSCA:    c.ClusterTLSCA,
		},
		Replicas:     int(c.Replicas),
		StoreTimeout: c.StoreTimeout,
		Logger:       logger,
		Webhooks:     busWebhooks(c),
	}
}

// noLimitIfZero maps --history-max-age's 0 ("no limit") to the bus's
// negative one (the bus's 0 is its default, 24h).
func noLimitIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// externalNATS is the bus's external NATS (zero without --nats-url): a
// stateless edge. --nats-user/--nats-password authenticate there, as they
// protect the embedded server's listener otherwise.
func externalNATS(c conf.Config) bus.ExternalConfig {
	if c.NATSURL == "" {
		return bus.ExternalConfig{}
	}
	return bus.ExternalConfig{
		URL: c.NATSURL, CredsFile: c.NATSCreds, NKeySeedFile: c.NATSNKey,
		User: c.NATSUser, Password: c.NATSPassword,
		TLSCA: c.NATSTLSCA, TLSCert: c.NATSTLSCert, TLSKey: c.NATSTLSKey,
		PresenceWait: c.NATSPresenceWait,
	}
}

// connLimitConfig bounds the connections on --addr.
func connLimitConfig(c conf.Config, counters *metrics.Set, logger *slog.Logger) connlimit.Config {
	return connlimit.Config{
		Max: int(c.MaxConns), PerIP: int(c.MaxConnsPerIP), Warn: ratelog.New(logger, 0), Metrics: counters,
	}
}

// healthConfig paces /readyz's checks.
func healthConfig(c conf.Config, logger *slog.Logger) health.Config {
	return health.Config{Interval: c.ReadyInterval, Timeout: c.ReadyTimeout, Logger: logger}
}

// authConfig is auth's share but for the JWT verifier (preflight builds
// it) and the hook (it needs the bus): the names that exist, and the
// admin namespace, which has its own login.
func authConfig(c conf.Config) auth.Config {
	var a auth.Config
	if len(c.Namespaces) > 0 {
		a.Namespaces = auth.Patterns(c.Namespaces)
	}
	if len(c.Channels) > 0 {
		a.Channels = auth.Patterns(c.Channels)
	}
	if c.AdminUI {
		a.OwnLogin = auth.Patterns{handlers.AdminNamespace}
	}
	return a
}

// hookConfig is the connect hook's (--auth-hook-*).
func hookConfig(c conf.Config, logger *slog.Logger) auth.HookConfig {
	return auth.HookConfig{Subject: c.AuthHookSubject, Timeout: c.AuthHookTimeout, Headers: c.AuthHookHeaders, Logger: logger}
}

// eventRate turns --max-events-per-second into the edges' rate (negative:
// no limit).
func eventRate(c conf.Config) float64 {
	if c.MaxEventsPerSecond <= 0 {
		return -1
	}
	return float64(c.MaxEventsPerSecond)
}

// channelsConfig is the plain WebSocket product's share.
func channelsConfig(c conf.Config) channels.Config {
	return channels.Config{
		MaxMessageBytes:   c.MaxMessageBytes,
		MaxHistory:        int(c.MaxHistory),
		AllowedOrigins:    c.CORSOrigins,
		MessagesPerSecond: eventRate(c),
		MessageBurst:      int(c.MaxEventBurst),
	}
}

// socketIOConfig is the Socket.IO server's share, its Engine.IO's included.
func socketIOConfig(c conf.Config) socketio.Config {
	return socketio.Config{
		Path:            c.SocketIOPath,
		RecoveryWindow:  c.RecoveryWindow,
		MaxHistory:      int(c.MaxHistory),
		MaxNamespaces:   int(c.MaxNamespacesPerConn),
		MaxRooms:        int(c.MaxRoomsPerSocket),
		EventsPerSecond: eventRate(c),
		EventBurst:      int(c.MaxEventBurst),
		ClientRooms:     clientRooms(c),
		Engine: engine.Config{
			MaxPayload:      c.MaxMessageBytes,
			CORS:            engine.CORS{AllowedOrigins: c.CORSOrigins},
			BodyReadTimeout: c.HTTPBodyTimeout,
		},
	}
}

// clientRooms is who may join what (--client-rooms): every room when no
// authentication is configured and the flag is empty, else its patterns,
// a token's or the connect hook's grant adding to them per connection.
func clientRooms(c conf.Config) *socketio.ClientRooms {
	allow := c.ClientRooms
	if len(allow) == 0 && c.AuthJWTKey == "" && !c.AuthHook {
		allow = []string{"*"}
	}
	return &socketio.ClientRooms{Allow: allow}
}

// adminConfig is the admin UI's (--admin-*).
func adminConfig(c conf.Config) handlers.AdminConfig {
	return handlers.AdminConfig{
		User: c.AdminUser, PasswordHash: c.AdminPasswordHash, ReadOnly: c.AdminReadOnly,
		MaxSessions: int(c.AdminMaxSessions), SessionTTL: c.AdminSessionTTL,
		MaxLoginFailuresPerAddress: int(c.AdminLoginFailuresPerAddress), MaxLoginFailures: int(c.AdminLoginFailures),
		LoginWindow: c.AdminLoginWindow, LoginConcurrency: int(c.AdminLoginConcurrency),
		LoginWait: c.AdminLoginWait, MaxLoginFailuresPerConn: int(c.AdminLoginFailuresPerConn),
	}
}
