package config

import (
	"time"

	"github.com/sockbus/sockbus/assets"
	"github.com/sockbus/sockbus/auth"
	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/handlers"
	"github.com/sockbus/sockbus/health"
	"github.com/sockbus/sockbus/httpapi"
	"github.com/sockbus/sockbus/presence"
	"github.com/sockbus/sockbus/webhook"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// Config is every setting of a sockbus process. Each field is one flag
// (--key), one environment variable (SOCKBUS_KEY with "-" as "_") and one
// key of the config file, all named by the `key` tag. `help` is the flag's
// usage and the default file's comment; `min`/`max` bound numbers and
// durations; a []string is a comma-separated list (blanks dropped; a
// YAML/TOML list in the file too); `oneof` lists the allowed words; `check:"addr"` wants host:port
// (empty allowed unless `required`); `secret` hides the value when printed.
//
// The zero value is not a working configuration: Default gives the
// documented defaults.
type Config struct {
	Addr             string        `key:"addr" check:"addr" required:"true" help:"HTTP listen address for WebSocket, Socket.IO and /healthz"`
	DataDir          string        `key:"data-dir" required:"true" help:"directory for JetStream storage; one sockbus process per directory"`
	NATSAddr         string        `key:"nats-addr" check:"addr" help:"also accept NATS clients here, e.g. 127.0.0.1:4222 (empty: in-process only)"`
	NATSUser         string        `key:"nats-user" help:"NATS user (required with a non-loopback nats-addr)"`
	NATSPassword     string        `key:"nats-password" secret:"true" help:"NATS password (required with a non-loopback nats-addr)"`
	NATSURL          string        `key:"nats-url" help:"connect to this external NATS (comma-separated URLs, JetStream enabled) instead of running the embedded server: a stateless edge with no data dir; nats-user/nats-password authenticate there"`
	NATSCreds        string        `key:"nats-creds" help:"credentials file (user JWT and nkey seed) for nats-url"`
	NATSNKey         string        `key:"nats-nkey" help:"file holding a user nkey seed for nats-url"`
	NATSTLSCA        string        `key:"nats-tls-ca" help:"PEM CA file signing the nats-url servers' certificates (default: the system's roots)"`
	NATSTLSCert      string        `key:"nats-tls-cert" help:"PEM client certificate for nats-url; needs nats-tls-key"`
	NATSTLSKey       string        `key:"nats-tls-key" help:"PEM key file of nats-tls-cert"`
	NATSPresenceWait time.Duration `key:"nats-presence-wait" min:"1ms" max:"5s" help:"with nats-url: how long counting the nodes of a namespace (broadcasts with acks, fetchSockets) waits for one more answer"`
	MaxMessageBytes  int           `key:"max-message-bytes" min:"1" max:"67108864" help:"largest message a client may send, in bytes"`
	LogLevel         string        `key:"log-level" oneof:"debug info warn error" help:"least important log lines written"`
	LogFormat        string        `key:"log-format" oneof:"text json" help:"log line format on stderr"`
	SocketIOPath     string        `key:"socketio-path" check:"path" help:"where Socket.IO (Engine.IO) is served (not under /ws/, nor /admin/ with admin-ui, nor / with the demo)"`
	CORSOrigins      []string      `key:"allowed-origins" alias:"cors-origins" help:"comma-separated browser origins allowed besides the server's own (CORS for polling, Origin check on WebSocket upgrades), or * (empty: same origin only)"`
	ClientDir        string        `key:"client-dir" help:"directory of the socket.io-client bundle served at <socketio-path>socket.io.js by a build that does not embed it (make build embeds it)"`
	Demo             bool          `key:"demo" help:"serve the demo page at /"`
	HistoryMaxAge    time.Duration `key:"history-max-age" min:"0s" help:"drop stored events older than this (0: no limit)"`
	HistoryMaxMsgs   int64         `key:"history-max-msgs" min:"-1" help:"keep at most this many events per stream: each shared stream, each own stream (-1: no limit)"`
	HistoryMaxBytes  int64         `key:"history-max-bytes" min:"-1" help:"keep at most this many bytes per stream: each shared stream, each own stream (-1: no limit)"`
	SharedStreams    int64         `key:"shared-streams" min:"1" max:"64" help:"how many streams hold the namespaces and channels without one of their own"`
	OwnNamespaces    []string      `key:"own-namespaces" help:"comma-separated namespaces stored each in a stream of its own, e.g. /chat,/news (the others share shared-streams)"`
	OwnChannels      []string      `key:"own-channels" help:"comma-separated plain WebSocket channels stored each in a stream of its own"`
	LegacyStreams    string        `key:"legacy-streams" oneof:"keep delete" help:"keep or delete the per-name streams (SOCKBUS_IO_*, SOCKBUS_WS_*) an older sockbus left in data-dir"`
	RecoveryWindow   time.Duration `key:"recovery-window" min:"0s" help:"how long a dropped Socket.IO session stays recoverable (0: recovery off)"`
	PresenceTTL      time.Duration `key:"presence-ttl" min:"0s" help:"who is in which room (sockbus:presence): how long a crashed node's members, and a dropped socket that may recover, stay present (0: presence off)"`
	PresenceEvents   bool          `key:"presence-events" help:"send sockbus:joined and sockbus:left to a room's members, and publish them on sockbus.presence.>"`
	PresenceMaxNodes int64         `key:"presence-max-nodes" min:"2" help:"the nodes running presence on one NATS (this one included) that a node keeps a copy of: messages naming more are dropped"`
	PresenceMaxBytes int64         `key:"presence-max-bytes" min:"1024" help:"ignored: presence keeps no bucket since it moved to each node's memory (accepted so older configurations still start)"`
	MetricsAddr      string        `key:"metrics-addr" check:"addr" help:"serve Prometheus /metrics on this separate address instead of on addr, e.g. 127.0.0.1:9090"`
	PprofAddr        string        `key:"pprof-addr" check:"addr" help:"serve Go profiling (net/http/pprof) on this separate address, e.g. 127.0.0.1:6060 (empty: off)"`
	ClusterName      string        `key:"cluster-name" help:"join a NATS cluster of sockbus nodes with this name (empty: single node)"`
	ClusterAddr      string        `key:"cluster-addr" check:"addr" help:"route listen address for the cluster, e.g. 127.0.0.1:6222"`
	Routes           []string      `key:"routes" help:"comma-separated route URLs of the other nodes, e.g. nats-route://10.0.0.2:6222"`
	NodeName         string        `key:"node-name" help:"this node's name in the cluster: unique and stable across restarts"`
	ClusterUser      string        `key:"cluster-user" help:"route user, the same on every node (required with a non-loopback cluster-addr)"`
	ClusterPassword  string        `key:"cluster-password" secret:"true" help:"route password, the same on every node (required with a non-loopback cluster-addr)"`
	ClusterTLSCert   string        `key:"cluster-tls-cert" help:"PEM certificate file of this node's routes; with cluster-tls-key and cluster-tls-ca every route is TLS, both sides verified"`
	ClusterTLSKey    string        `key:"cluster-tls-key" help:"PEM private key file of cluster-tls-cert"`
	ClusterTLSCA     string        `key:"cluster-tls-ca" help:"PEM file of the CA that signed every node's cluster-tls-cert"`
	TLSCert          string        `key:"tls-cert" help:"PEM certificate (chain) file: serve addr over TLS (https, wss); needs tls-key"`
	TLSKey           string        `key:"tls-key" help:"PEM private key file of tls-cert"`
	Replicas         int64         `key:"replicas" min:"1" max:"5" help:"copies of each stream and of the session bucket in a cluster (1, or 3)"`
	ShutdownTimeout  time.Duration `key:"shutdown-timeout" min:"1ms" max:"1h" help:"how long a shutdown waits for clients and the bus before giving up"`
	StoreTimeout     time.Duration `key:"store-timeout" min:"1ms" max:"1h" help:"keep retrying to store an event this long while its stream elects a leader, then answer the client's ack with an error (set client ack timeouts above it)"`

	// Hostile input (internal/connlimit, wsedge/engine).
	MaxConns        int64         `key:"max-connections" min:"0" max:"100000000" help:"connections open at once on addr, in all (0: no limit)"`
	MaxConnsPerIP   int64         `key:"max-connections-per-ip" min:"0" max:"100000000" help:"connections open at once on addr from one IP address (0: no limit)"`
	MaxHeaderBytes  int64         `key:"max-header-bytes" min:"8192" max:"1048576" help:"largest request line plus headers a client may send, in bytes (larger: 431)"`
	HTTPIdleTimeout time.Duration `key:"http-idle-timeout" min:"1ms" max:"24h" help:"close a keep-alive HTTP connection idle this long"`
	HTTPBodyTimeout time.Duration `key:"http-body-timeout" min:"1ms" max:"1h" help:"a polling POST body must arrive within this (else 408)"`
	ReadyInterval   time.Duration `key:"ready-interval" min:"1ms" max:"1h" help:"how often /readyz checks that this node can store events"`
	ReadyTimeout    time.Duration `key:"ready-timeout" min:"1ms" max:"1h" help:"bound on one /readyz check (JetStream account and stream info)"`
	MaxHistory      int64         `key:"max-history" min:"1" max:"1000000" help:"cap on ?history=N and auth.history"`

	// Authentication (auth/).
	AuthJWTKey      string        `key:"auth-jwt-key" secret:"true" help:"require a JWT on every connect: an HMAC secret (32+ bytes), or @file with PEM public keys or a JWKS (RS*, PS*, ES*, EdDSA)"`
	AuthJWTAudience string        `key:"auth-jwt-audience" help:"with auth-jwt-key: a token's aud claim must list this value (tokens without aud are refused)"`
	AuthJWTIssuer   string        `key:"auth-jwt-issuer" help:"with auth-jwt-key: a token's iss claim must be this value (tokens without iss are refused)"`
	AuthHook        bool          `key:"auth-hook" help:"ask a NATS responder on auth-hook-subject about every connect"`
	AuthHookSubject string        `key:"auth-hook-subject" required:"true" help:"subject of the connect hook's requests"`
	AuthHookTimeout time.Duration `key:"auth-hook-timeout" min:"1ms" max:"10s" help:"a connect hook request with no reply in this time refuses the connect (at most 10s: no connect waits longer for its authorization)"`
	AuthHookHeaders []string      `key:"auth-hook-headers" help:"comma-separated request headers passed to the connect hook"`
	Namespaces      []string      `key:"namespaces" help:"comma-separated patterns ('*' matches anything) of the Socket.IO namespaces that exist, e.g. /,/chat,/room-* (empty: any)"`
	Channels        []string      `key:"channels" help:"comma-separated patterns of the plain WebSocket channels that exist, e.g. default,game.* (empty: any)"`
	ClientRooms     []string      `key:"client-rooms" help:"comma-separated patterns ('*' matches anything, {user} is the authenticated user) of the rooms Socket.IO clients may join themselves (sockbus:join), e.g. chat-*,user-{user} (empty: any room without authentication; with it, only what a token's sockbus.rooms or the connect hook's client_rooms allow)"`

	// Webhooks (webhook/, docs/webhooks.md).
	WebhookURLs       []string      `key:"webhook-url" help:"comma-separated http(s) URLs that get every selected event as a signed POST, at least once (empty: webhooks off)"`
	WebhookSecret     string        `key:"webhook-secret" secret:"true" help:"signs each webhook POST: header Sockbus-Signature: sha256=<hex HMAC-SHA256 of the body> (required with webhook-url)"`
	WebhookEvents     []string      `key:"webhook-events" help:"comma-separated events sent: connect, disconnect, join, leave, event, or event:<pattern> for the client events whose name matches (empty: all)"`
	WebhookMaxAge     time.Duration `key:"webhook-max-age" min:"1s" help:"an event not delivered within this is given up (and dropped from disk)"`
	WebhookMaxBytes   int64         `key:"webhook-max-bytes" min:"1048576" help:"disk the undelivered events may take in all; past it the oldest are dropped"`
	WebhookTimeout    time.Duration `key:"webhook-timeout" min:"1ms" max:"5m" help:"one webhook POST without a whole answer in this time failed (it is retried)"`
	WebhookMaxBackoff time.Duration `key:"webhook-max-backoff" min:"1ms" max:"1h" help:"longest wait between two attempts at one event (waits double from 200ms)"`
	WebhookPartitions int64         `key:"webhook-partitions" min:"1" max:"256" help:"ordered queues per receiver: a socket's events are delivered in order, up to this many at once per receiver across the cluster (the same on every node)"`
	// HTTP server API (httpapi/, docs/http-api.md).
	APIKey               []string `key:"api-key" secret:"true" help:"serve the HTTP server API under /api/v1/ for callers with one of these bearer keys (comma-separated, each 16+ bytes, or @file with one per line; empty: the API is off)"`
	APIAddr              string   `key:"api-addr" check:"addr" help:"serve the HTTP server API on this separate address instead of on addr, e.g. 127.0.0.1:3001"`
	APIRequestsPerSecond int64    `key:"api-requests-per-second" min:"0" max:"1000000000" help:"requests one API key may make per second, bursts of as many (0: no limit)"`

	// Per-connection limits (wsedge/limits.go, wsedge/socketio/limits.go).
	MaxNamespacesPerConn int64 `key:"max-namespaces-per-conn" min:"1" max:"1000000" help:"namespaces one Socket.IO connection may join"`
	MaxRoomsPerSocket    int64 `key:"max-rooms-per-socket" min:"1" max:"1000000000" help:"rooms one socket may be in"`
	MaxEventsPerSecond   int64 `key:"max-events-per-second" min:"0" max:"1000000000" help:"events (Socket.IO) or messages (WebSocket) one connection may send per second (0: no limit)"`
	MaxEventBurst        int64 `key:"max-event-burst" min:"0" max:"1000000000" help:"burst allowed above max-events-per-second (0: ten times the rate)"`
	MaxEventsPerAddress  int64 `key:"max-events-per-address" min:"0" max:"1000000000" help:"events and messages all the connections from one client address may send per second together, bursts of ten times that (0: no limit)"`

	// Socket.IO Admin UI (handlers/admin.go, app/admin.go).
	AdminUI           bool          `key:"admin-ui" help:"serve the Socket.IO Admin UI at /admin/ and its namespace /admin (off by default)"`
	AdminUser         string        `key:"admin-user" help:"admin UI login user, with admin-password-hash (both empty: no login, with a warning)"`
	AdminPasswordHash string        `key:"admin-password-hash" secret:"true" help:"bcrypt hash of the admin UI password"`
	AdminReadOnly     bool          `key:"admin-read-only" help:"the admin UI may look but not join, leave, emit or disconnect"`
	AdminUIDir        string        `key:"admin-ui-dir" help:"directory of the admin UI's static files (the @socket.io/admin-ui npm package's ui/dist)"`
	AdminMaxSessions  int64         `key:"admin-max-sessions" min:"1" max:"1000000" help:"admin UI logins remembered per node (the oldest is forgotten past it)"`
	AdminSessionTTL   time.Duration `key:"admin-session-ttl" min:"1s" max:"8760h" help:"how long an admin UI login lets the UI reconnect without the password"`
	// Admin UI login limits (handlers/adminlogin.go).
	AdminLoginFailuresPerAddress int64         `key:"admin-login-failures-per-address" min:"1" max:"1000000" help:"failed admin UI logins from one client address per admin-login-window; past it that address's logins are refused without a password check"`
	AdminLoginFailures           int64         `key:"admin-login-failures" min:"1" max:"1000000" help:"failed admin UI logins per admin-login-window in all, per node; past it every login is refused without a password check"`
	AdminLoginWindow             time.Duration `key:"admin-login-window" min:"1s" max:"24h" help:"the window over which failed admin UI logins are counted"`
	AdminLoginConcurrency        int64         `key:"admin-login-concurrency" min:"1" max:"64" help:"admin UI password checks (bcrypt) running at once"`
	AdminLoginWait               time.Duration `key:"admin-login-wait" min:"1ms" max:"1m" help:"how long an admin UI login waits for a password check slot before it is refused"`
	AdminLoginFailuresPerConn    int64         `key:"admin-login-failures-per-conn" min:"1" max:"1000000" help:"failed admin UI logins after which the connection is closed"`
}

// Default is the configuration with every documented default. The
// settings of a package come from that package's own defaults; the ones
// written here belong to the process (listeners, logs, shutdown).
func Default() Config {
	admin := handlers.DefaultAdminConfig()
	return Config{
		Addr:             ":3000",
		DataDir:          bus.DefaultDataDir,
		MaxMessageBytes:  bus.DefaultMaxPayload,
		LogLevel:         "info",
		LogFormat:        "text",
		SocketIOPath:     socketio.DefaultPath,
		ClientDir:        assets.ClientPackage.NodeModulesDir(),
		Demo:             true,
		HistoryMaxAge:    bus.DefaultHistoryMaxAge,
		HistoryMaxMsgs:   bus.DefaultHistoryMaxMsgs,
		HistoryMaxBytes:  bus.DefaultHistoryMaxBytes,
		SharedStreams:    bus.DefaultSharedStreams,
		LegacyStreams:    bus.DefaultLegacyStreams,
		RecoveryWindow:   socketio.DefaultRecoveryWindow,
		PresenceTTL:      presence.DefaultTTL,
		PresenceMaxNodes: presence.DefaultMaxNodes,
		PresenceMaxBytes: 64 << 20, // ignored; the former default
		Replicas:         bus.DefaultReplicas,
		NATSPresenceWait: bus.DefaultPresenceWait,
		ShutdownTimeout:  10 * time.Second,
		StoreTimeout:     bus.DefaultStoreTimeout,
		MaxConns:         50_000,
		MaxConnsPerIP:    16_384,
		MaxHeaderBytes:   16 << 10,
		HTTPIdleTimeout:  60 * time.Second,
		HTTPBodyTimeout:  engine.DefaultBodyReadTimeout,
		MaxHistory:       wsedge.DefaultMaxHistory,
		ReadyInterval:    health.DefaultInterval,
		ReadyTimeout:     health.DefaultTimeout,
		AuthHookSubject:  auth.HookSubject,
		AuthHookTimeout:  auth.DefaultHookTimeout,
		AuthHookHeaders:  auth.DefaultHookHeaders(),

		WebhookMaxAge:        bus.DefaultWebhookMaxAge,
		WebhookMaxBytes:      bus.DefaultWebhookMaxBytes,
		WebhookTimeout:       webhook.DefaultTimeout,
		WebhookMaxBackoff:    webhook.DefaultMaxBackoff,
		WebhookPartitions:    bus.DefaultWebhookPartitions,
		APIRequestsPerSecond: httpapi.DefaultRequestsPerSecond,

		MaxNamespacesPerConn: socketio.DefaultMaxNamespaces,
		MaxRoomsPerSocket:    socketio.DefaultMaxRooms,
		MaxEventsPerSecond:   wsedge.DefaultEventsPerSecond,
		MaxEventsPerAddress:  wsedge.DefaultEventsPerAddress,

		AdminUIDir:                   assets.AdminUIPackage.NodeModulesDir(),
		AdminMaxSessions:             int64(admin.MaxSessions),
		AdminSessionTTL:              admin.SessionTTL,
		AdminLoginFailuresPerAddress: int64(admin.MaxLoginFailuresPerAddress),
		AdminLoginFailures:           int64(admin.MaxLoginFailures),
		AdminLoginWindow:             admin.LoginWindow,
		AdminLoginConcurrency:        int64(admin.LoginConcurrency),
		AdminLoginWait:               admin.LoginWait,
		AdminLoginFailuresPerConn:    int64(admin.MaxLoginFailuresPerConn),
	}
}
