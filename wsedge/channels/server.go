package channels

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/randid"
	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/presence"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
	"github.com/sockbus/sockbus/wsedge/internal/wsconn"
)

// DefaultChannel is the channel of a client connecting to /ws.
const DefaultChannel = "default"

// Config configures plain WebSocket channels. The zero value works.
type Config struct {
	// MaxMessageBytes bounds one frame from a client; a bigger one closes
	// the connection with 1009. Default 1 MiB.
	MaxMessageBytes int
	// PingInterval is how often the server pings each connection. Default 25s.
	PingInterval time.Duration
	// PingTimeout is how long past a ping interval a silent connection
	// lives before it is reaped. Default 20s.
	PingTimeout time.Duration
	// ReadBufferSize is gws's per-connection read buffer. Default 1 KiB.
	ReadBufferSize int
	// Queue bounds each connection's outbound queue.
	Queue outq.Config
	// History serves ?history=N. Nil: the parameter is refused.
	History wsedge.History
	// MessagesPerSecond and MessageBurst bound the frames one connection
	// sends (a token bucket); a connection over the rate is closed with
	// CloseRateLimited. Default 100 per second, bursts of ten times that;
	// negative: no limit.
	MessagesPerSecond float64
	MessageBurst      int
	// AddressEvents bounds the messages of all the connections from one
	// address together (shared with the Socket.IO server's), closing the
	// one over it with CloseRateLimited. Nil: no per-address bound.
	AddressEvents *wsedge.AddressBudget
	// Authorizer admits or refuses each connection before the upgrade.
	// Nil: everyone is admitted.
	Authorizer wsedge.Authorizer
	// MaxHistory caps ?history=N (a larger N gets the last MaxHistory
	// messages), as socketio.Config.MaxHistory caps auth.history. Default
	// wsedge.DefaultMaxHistory.
	MaxHistory int
	// AllowedOrigins lists the browser origins, besides the server's own,
	// that may open a connection ("*": any); a request with another Origin
	// header gets 403. Requests without Origin (not browsers) are accepted.
	AllowedOrigins []string
	// Presence records each channel's connections where every node reads
	// them (Server.Presence, sockbus.ctl.presence.ws.<channel>). Nil: off.
	Presence *presence.Registry
	// Logger receives connection errors. Default slog.Default().
	Logger *slog.Logger
	// Metrics counts messages, deliveries, disconnects and refusals
	// (KindWebSocket). Nil: nothing is counted.
	Metrics *metrics.Set
}

func (c Config) withDefaults() Config {
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 1 << 20
	}
	if c.MessagesPerSecond == 0 {
		c.MessagesPerSecond = wsedge.DefaultEventsPerSecond
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = 1024
	}
	if c.MaxHistory <= 0 {
		c.MaxHistory = wsedge.DefaultMaxHistory
	}
	c.AllowedOrigins = slices.Clone(c.AllowedOrigins)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Server serves plain WebSocket channels at /ws and /ws/{channel}. It is
// an http.Handler; all methods are safe for concurrent use.
type Server struct {
	bus      *bus.Bus
	cfg      Config
	log      *slog.Logger
	warn     *ratelog.Logger // what clients can cause, rate-limited
	origins  engine.CORS
	upgrader *gws.Upgrader
	idPrefix string
	nextID   atomic.Uint64

	mu      sync.Mutex
	hubs    map[string]*channelHub // by channel token
	pending map[string]*hubClaim   // subscriptions in flight, by channel token
	conns   map[*channelConn]struct{}
	closing bool

	wg       sync.WaitGroup // read loops, closers and the pinger
	stopPing chan struct{}
	handlers wsconn.Handlers // handle messages off the read loops

	omu       sync.Mutex                  // serializes Observe's changes
	observers atomic.Pointer[[]*Observer] // nil: none
}

// New returns the plain WebSocket handler publishing on b.
func New(b *bus.Bus, cfg Config) *Server {
	cfg = cfg.withDefaults()
	c := &Server{
		bus:      b,
		cfg:      cfg,
		log:      cfg.Logger,
		warn:     ratelog.New(cfg.Logger, 0),
		origins:  engine.CORS{AllowedOrigins: cfg.AllowedOrigins},
		idPrefix: randomTag(),
		hubs:     map[string]*channelHub{},
		pending:  map[string]*hubClaim{},
		conns:    map[*channelConn]struct{}{},
		stopPing: make(chan struct{}),
	}
	c.upgrader = gws.NewUpgrader(channelEvents{c}, &gws.ServerOption{
		ReadMaxPayloadSize: cfg.MaxMessageBytes,
		ReadBufferSize:     cfg.ReadBufferSize,
		CheckUtf8Enabled:   true,
		HandshakeTimeout:   10 * time.Second,
		NewSession:         wsconn.NewSlot[*channelConn],
	})
	c.wg.Add(1)
	go c.pingLoop()
	return c
}

// track registers a connection unless the handler is shutting down.
func (c *Server) track(cc *channelConn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.conns[cc] = struct{}{}
	return true
}

// Live counts this node's open plain WebSocket connections and the
// channels they are in (for metrics scrapes).
func (c *Server) Live() metrics.Live {
	c.mu.Lock()
	defer c.mu.Unlock()
	return metrics.Live{WebSocketConns: len(c.conns), Channels: len(c.hubs)}
}

func (c *Server) pingLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.PingInterval)
	defer t.Stop()
	ping := outq.NewPingFrame(nil)
	for {
		select {
		case <-c.stopPing:
			return
		case <-t.C:
		}
		c.mu.Lock()
		conns := make([]*channelConn, 0, len(c.conns))
		for cc := range c.conns {
			conns = append(conns, cc)
		}
		c.mu.Unlock()
		for _, cc := range conns {
			if err := cc.q.Push(ping); errors.Is(err, outq.ErrFull) {
				c.closeAsync(cc, wsedge.CloseSlowConsumer, wsedge.ReasonSlowConsumer)
			}
		}
	}
}

// Len reports the number of open connections.
func (c *Server) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}

// Close refuses new connections, closes every open one with 1001 and waits
// (bounded by ctx) for their goroutines to end. It is idempotent.
func (c *Server) Close(ctx context.Context) error {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		close(c.stopPing)
	}
	conns := make([]*channelConn, 0, len(c.conns))
	for cc := range c.conns {
		conns = append(conns, cc)
	}
	c.mu.Unlock()
	for _, cc := range conns {
		c.closeAsync(cc, wsedge.CloseGoingAway, wsedge.ReasonShutdown)
	}
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	defer c.handlers.Close() // after the read loops (or the bound): busy handlers end after their message
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("failed to close websocket channels: %w", ctx.Err())
	}
}

func randomTag() string {
	return randid.Hex(4) + "-"
}
