package engine

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// Transport names, as they appear in the transport query parameter.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// Config configures a Server. The zero value is ready to use; NewServer
// copies it and never modifies the caller's value.
type Config struct {
	// PingInterval is how often the server pings each client. Default 25s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for the pong answering a ping
	// before it closes the session with ReasonPingTimeout. Default 20s.
	PingTimeout time.Duration
	// MaxPayload bounds, in bytes, one polling POST body and one WebSocket
	// message from a client (a larger POST gets 413, a larger frame close
	// code 1009). It is announced to clients. Default 1,000,000.
	MaxPayload int
	// Transports lists the enabled transports, TransportPolling and/or
	// TransportWebSocket; other names are ignored. Default both.
	Transports []string
	// DisableUpgrades stops polling sessions from upgrading to WebSocket
	// (the open packet then announces no upgrades). Default false.
	DisableUpgrades bool
	// UpgradeTimeout bounds an upgrade from its WebSocket connection to the
	// client's upgrade packet; the WebSocket is then closed and the session
	// stays on polling. Default 10s.
	UpgradeTimeout time.Duration
	// CORS, when it names allowed origins, adds CORS headers to every
	// response and answers preflight requests. Default none: no CORS headers.
	// It also decides which browser origins may open a WebSocket (see
	// CORS.AllowsOrigin): by default only the server's own origin.
	CORS CORS
	// BodyReadTimeout bounds the reading of one polling POST body: a client
	// that trickles its body is answered 408 and its session closed.
	// Default DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
	// AllowRequest, if set, vets each handshake request (not later requests
	// of a session). A non-nil error refuses it with HTTP 403, code 4
	// (Forbidden) and the error's text as message.
	AllowRequest func(r *http.Request) error
	// Queue bounds each session's outbound frames: the WebSocket queue and
	// the polling buffer alike. A session past the bounds is closed with
	// ReasonSlowConsumer. Zero fields take outq's defaults (8 MiB, 16384
	// frames, 10s write timeout).
	Queue outq.Config
	// InlineMessage, if set, picks the WebSocket messages whose OnMessage
	// callback may run on the goroutine that decoded the message (when
	// nothing is queued ahead of them), which the read loop waits for: quick
	// work that never blocks. The others go to a goroutine that lives while
	// there is something to hand over, and the read loop goes on reading
	// (pings are answered). Inline saves a hand-off per message; work that
	// may wait is better handed off. Default nil: every message may run
	// inline.
	InlineMessage func(data []byte, binary bool) bool
	// Forward, if set, lets this server serve requests of sessions owned by
	// other nodes (and theirs of its own): see Forwarder. Default nil: a
	// request for a session this server does not hold gets "Session ID
	// unknown".
	Forward Forwarder
	// ForwardTimeout bounds a forwarded request: dialling the owner, then
	// its response headers (a long-poll GET is answered within
	// PingInterval). Default PingInterval + PingTimeout.
	ForwardTimeout time.Duration
	// Limits, if set, counts what the HTTP listener cannot see against its
	// connection bounds: a polling session is a connection from its
	// client's address (AdmitPerIP) from its handshake until it closes or
	// upgrades (its WebSocket then counts itself). A handshake over the
	// bound gets 503. Default nil: sessions are not counted.
	Limits Limits
	// Logger receives debug records of session life and warnings. Default
	// slog.Default().
	Logger *slog.Logger
	// Metrics counts sessions' ends and refusals (KindSocketIO). Nil: none.
	Metrics *metrics.Set
}

// Defaults of Config fields and of the outq bounds mirrored for polling.
const (
	DefaultPingInterval   = 25 * time.Second
	DefaultPingTimeout    = 20 * time.Second
	DefaultMaxPayload     = 1_000_000
	DefaultUpgradeTimeout = 10 * time.Second
	// DefaultBodyReadTimeout is far above what a 1 MB body takes on a slow
	// phone link, and holds a trickling client for at most half a minute.
	DefaultBodyReadTimeout = 30 * time.Second

	defaultQueueBytes  = 8 << 20
	defaultQueueFrames = 16384
)

// Inbound bounds: how much a session buffers for its OnMessage callback
// before the reader (WebSocket read loop or POST handler) waits for room.
const (
	inboxMaxMessages = 1024
	inboxMaxBytes    = 4 << 20
)

// settings is a Config with defaults applied.
type settings struct {
	pingInterval   time.Duration
	pingTimeout    time.Duration
	upgradeTimeout time.Duration
	forwardTimeout time.Duration
	bodyTimeout    time.Duration
	maxPayload     int
	polling        bool
	websocket      bool
	upgrades       bool
	cors           CORS
	corsOn         bool
	allowRequest   func(*http.Request) error
	limits         Limits
	inline         func([]byte, bool) bool
	queue          outq.Config
	maxFrames      int
	maxBytes       int
	log            *slog.Logger
	warn           *ratelog.Logger // warnings a client can cause
	metrics        *metrics.Set
}

func (c Config) settings() settings {
	s := settings{
		pingInterval:   c.PingInterval,
		pingTimeout:    c.PingTimeout,
		upgradeTimeout: c.UpgradeTimeout,
		forwardTimeout: c.ForwardTimeout,
		bodyTimeout:    c.BodyReadTimeout,
		maxPayload:     c.MaxPayload,
		cors:           c.CORS.clone(),
		allowRequest:   c.AllowRequest,
		limits:         c.Limits,
		inline:         c.InlineMessage,
		queue:          c.Queue,
		maxFrames:      c.Queue.MaxFrames,
		maxBytes:       c.Queue.MaxBytes,
		log:            c.Logger,
		metrics:        c.Metrics,
	}
	if s.pingInterval <= 0 {
		s.pingInterval = DefaultPingInterval
	}
	if s.pingTimeout <= 0 {
		s.pingTimeout = DefaultPingTimeout
	}
	if s.upgradeTimeout <= 0 {
		s.upgradeTimeout = DefaultUpgradeTimeout
	}
	if s.forwardTimeout <= 0 {
		s.forwardTimeout = s.pingInterval + s.pingTimeout
	}
	if s.bodyTimeout <= 0 {
		s.bodyTimeout = DefaultBodyReadTimeout
	}
	if s.maxPayload <= 0 {
		s.maxPayload = DefaultMaxPayload
	}
	if len(c.Transports) == 0 {
		s.polling, s.websocket = true, true
	}
	for _, t := range c.Transports {
		switch t {
		case TransportPolling:
			s.polling = true
		case TransportWebSocket:
			s.websocket = true
		}
	}
	s.upgrades = s.polling && s.websocket && !c.DisableUpgrades
	s.corsOn = s.cors.enabled()
	if s.maxFrames <= 0 {
		s.maxFrames = defaultQueueFrames
	}
	if s.maxBytes <= 0 {
		s.maxBytes = defaultQueueBytes
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.warn = ratelog.New(s.log, 0)
	return s
}
