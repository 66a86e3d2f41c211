package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/randid"
	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/presence"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/sio"
)

// DefaultPath is where Engine.IO is mounted by default (Config.Path,
// --socketio-path), as in socket.io.
const DefaultPath = "/socket.io/"

// Config configures a Socket.IO server. The zero value works.
type Config struct {
	// Path is where Engine.IO is mounted, with its trailing slash.
	// Default DefaultPath.
	Path string
	// Engine configures Engine.IO (heartbeat, transports, CORS, payload and
	// queue bounds). Its zero value is socket.io's defaults.
	Engine engine.Config
	// ConnectTimeout closes a connection that joins no namespace in time.
	// Default 45s, as socket.io.
	ConnectTimeout time.Duration
	// MaxAttachments bounds the binary attachments of one packet. Default 10.
	MaxAttachments int
	// BusAckTimeout bounds how long a NATS handler may take to answer a
	// client's ack request. Default 30s.
	BusAckTimeout time.Duration
	// History reads stored events for connection state recovery and for
	// late joiners (auth.history). Nil: neither is offered.
	History wsedge.History
	// Sessions keeps recoverable sessions. Recovery is on when both
	// Sessions and History are set and RecoveryWindow is not negative.
	Sessions wsedge.SessionStore
	// RecoveryWindow is how long a dropped session stays recoverable; the
	// store's expiry must match it. Default DefaultRecoveryWindow.
	RecoveryWindow time.Duration
	// RunMiddlewaresOnRecovery runs the namespace middleware for a
	// recovered socket too. By default they are skipped, as socket.io's
	// skipMiddlewares: true; the Authorizer always runs, and a session is
	// recovered only by its own user, its data (what the middleware set)
	// restored.
	RunMiddlewaresOnRecovery bool
	// MaxHistory bounds what auth.history may ask for. Default
	// wsedge.DefaultMaxHistory.
	MaxHistory int
	// MaxNamespaces bounds the namespaces one connection joins, its
	// refused CONNECTs counted too; the next CONNECT gets connect_error
	// "too many namespaces". Default 128.
	MaxNamespaces int
	// MaxConnectRefusals closes a connection whose CONNECTs were refused
	// that many times (auth, middleware, unknown namespace, too many), after
	// its last connect_error. Every CONNECT also costs one event of
	// EventsPerSecond. Default 16.
	MaxConnectRefusals int
	// MaxRooms bounds the rooms of one socket (its own id not counted);
	// Join past it fails. Default 1000.
	MaxRooms int
	// EventsPerSecond and EventBurst bound the events one connection emits
	// (a token bucket). An event over the rate that asked for an ack gets
	// the error ack "rate limit exceeded"; one that did not closes the
	// connection. Default 100 per second, bursts of ten times that; negative:
	// no limit.
	EventsPerSecond float64
	EventBurst      int
	// AddressEvents bounds the events of all the connections from one
	// address together (give Channels the same budget to count plain
	// WebSocket messages with them), refused as over EventsPerSecond. Nil:
	// no per-address bound.
	AddressEvents *wsedge.AddressBudget
	// ClientRooms lets clients join and leave rooms themselves and publish
	// to the rooms they are in (JoinEvent, LeaveEvent, ToEvent;
	// docs/socketio.md, "Rooms from the client"). Nil: off, those events
	// get the error ack ErrAckClientRoomsOff.
	ClientRooms *ClientRooms
	// Presence keeps who is in which room where every node reads it
	// (sockbus:presence, Namespace.Presence; joined and left events when
	// its events are on). Nil: off.
	Presence *presence.Registry
	// Authorizer admits or refuses each namespace CONNECT before the
	// namespace's middleware. Nil: everyone is admitted.
	Authorizer wsedge.Authorizer
	// Logger receives connection errors. Default slog.Default().
	Logger *slog.Logger
	// Metrics counts events, deliveries, disconnects, refusals, recoveries
	// and latencies (KindSocketIO); Engine.Metrics defaults to it. Nil:
	// nothing is counted.
	Metrics *metrics.Set
}

func (c Config) withDefaults() Config {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if !strings.HasSuffix(c.Path, "/") {
		c.Path += "/"
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 45 * time.Second
	}
	if c.MaxAttachments <= 0 {
		c.MaxAttachments = sio.DefaultMaxAttachments
	}
	if c.BusAckTimeout <= 0 {
		c.BusAckTimeout = 30 * time.Second
	}
	if c.RecoveryWindow == 0 {
		c.RecoveryWindow = DefaultRecoveryWindow
	}
	if c.MaxHistory <= 0 {
		c.MaxHistory = wsedge.DefaultMaxHistory
	}
	if c.MaxNamespaces <= 0 {
		c.MaxNamespaces = DefaultMaxNamespaces
	}
	if c.MaxConnectRefusals <= 0 {
		c.MaxConnectRefusals = DefaultMaxConnectRefusals
	}
	if c.MaxRooms <= 0 {
		c.MaxRooms = DefaultMaxRooms
	}
	if c.EventsPerSecond == 0 {
		c.EventsPerSecond = wsedge.DefaultEventsPerSecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Engine.Logger == nil {
		c.Engine.Logger = c.Logger
	}
	if c.Engine.Metrics == nil {
		c.Engine.Metrics = c.Metrics
	}
	return c
}

// Server is a Socket.IO v5 server whose emits travel on the bus. It is an
// http.Handler for Config.Path. All methods are safe for concurrent use.
type Server struct {
	bus     *bus.Bus
	cfg     Config
	log     *slog.Logger
	metrics *metrics.Set
	warn    *ratelog.Logger // operational failures, rate-limited
	// storeFailed answers the store of a client event nobody waits for.
	storeFailed func(error)
	engine      *engine.Server
	decoder     sio.Decoder
	saver       *sessionSaver
	reaper      *connectReaper // Config.ConnectTimeout
	// observer hears of every socket's life (Observe); nil: nobody.
	observer  atomic.Pointer[Observer]
	omu       sync.Mutex
	observers []*Observer // guarded by omu; observer merges them
	// presenceSub delivers joined and left events (Config.Presence).
	presenceSub *bus.Subscription

	mu       sync.Mutex
	static   map[string]*Namespace
	dynamic  []*Namespace // parents created by OfFunc, in registration order
	children map[string]*Namespace
	closing  bool
}

// NewServer returns a Socket.IO server publishing on b.
func NewServer(b *bus.Bus, cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		bus:      b,
		cfg:      cfg,
		log:      cfg.Logger,
		metrics:  cfg.Metrics,
		warn:     ratelog.New(cfg.Logger, 0),
		decoder:  sio.Decoder{MaxAttachments: cfg.MaxAttachments},
		static:   map[string]*Namespace{},
		children: map[string]*Namespace{},
	}
	s.reaper = newConnectReaper(cfg.ConnectTimeout)
	s.storeFailed = func(err error) {
		if err != nil {
			s.warn.Warn("event not stored", "err", err)
		}
	}
	if s.recoveryOn() {
		s.saver = newSessionSaver(s)
	}
	ecfg := cfg.Engine
	if ecfg.InlineMessage == nil {
		ecfg.InlineMessage = inlinePacket
	}
	if ecfg.Forward == nil {
		// Any node serves any session's requests: no sticky load balancer.
		if fw, err := newBusForwarder(b, ecfg.Limits); err != nil {
			s.log.Warn("requests for sessions of other nodes will be refused", "err", err)
		} else {
			ecfg.Forward = fw
		}
	}
	s.engine = engine.NewServer(ecfg, s.onSession)
	if err := s.subscribePresenceEvents(); err != nil {
		s.log.Warn("presence events will not reach clients", "err", err)
	}
	s.Of("/")
	return s
}

// inlinePacket lets events, acks and attachments run on the goroutine that
// decoded them (no further hand-off), while a namespace CONNECT or
// DISCONNECT, whose middleware, join and recovery may wait, goes to the
// session's dispatcher, so that the read loop goes on answering pings.
func inlinePacket(data []byte, binary bool) bool {
	if binary || len(data) == 0 {
		return true
	}
	switch sio.Type(data[0] - '0') {
	case sio.Event, sio.Ack, sio.BinaryEvent, sio.BinaryAck:
		return true
	}
	return false
}

// Path is where the server is mounted.
func (s *Server) Path() string { return s.cfg.Path }

// ServeHTTP serves Engine.IO requests. The client bundle under the same
// path is app's to mount (package assets).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.engine.ServeHTTP(w, r)
}

// Of returns the namespace called name ("/chat"; a missing leading slash is
// added), creating it on first use.
func (s *Server) Of(name string) *Namespace {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.static[name]; n != nil {
		return n
	}
	n := newNamespace(s, name, nil)
	s.static[name] = n
	return n
}

// OfFunc registers dynamic namespaces: a client connecting to a name no
// static namespace has is accepted when match returns true, in a child
// namespace that runs the returned parent's middleware and connection
// handlers. It is socket.io's io.of(regexp or function).
func (s *Server) OfFunc(match func(name string, auth json.RawMessage) bool) *Namespace {
	p := newNamespace(s, "", match)
	s.mu.Lock()
	s.dynamic = append(s.dynamic, p)
	s.mu.Unlock()
	return p
}

// lookup finds or creates the namespace a CONNECT asks for; nil if none.
func (s *Server) lookup(name string, auth json.RawMessage) *Namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.static[name]; n != nil {
		return n
	}
	if n := s.children[name]; n != nil {
		n.connecting++
		return n
	}
	for _, p := range s.dynamic {
		if p.match(name, auth) {
			n := newNamespace(s, name, nil)
			n.parent = p
			n.connecting = 1
			s.children[name] = n
			return n
		}
	}
	return nil
}

// settle forgets an OfFunc child that has no local socket and no connect in
// progress, so the server holds state only for names with live members: a
// client naming thousands of namespaces leaves nothing behind. connected
// ends one connect that lookup counted.
func (s *Server) settle(n *Namespace, connected bool) {
	if n.parent == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if connected {
		n.connecting--
	}
	if n.connecting > 0 || s.children[n.name] != n || n.Len() > 0 {
		return
	}
	delete(s.children, n.name)
}

// Emit sends an event to every socket of the main namespace "/".
func (s *Server) Emit(event string, args ...any) error { return s.Of("/").Emit(event, args...) }

// Close disconnects every client (reason "server shutting down") and waits,
// bounded by ctx, for their goroutines. It is idempotent.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	var errs []error
	if err := s.engine.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("failed to close engine: %w", err))
	}
	s.reaper.close()
	if s.saver != nil {
		s.saver.close(ctx)
	}
	for _, n := range s.namespaces() {
		n.unsubscribeAll()
	}
	if s.presenceSub != nil {
		_ = s.presenceSub.Unsubscribe()
	}
	return errors.Join(errs...)
}

// Live counts what is open on this node now: Engine.IO connections and
// sockets by transport, namespaces and rooms with local sockets. It is
// meant for metrics scrapes; it takes each namespace's lock in turn.
func (s *Server) Live() metrics.Live {
	var l metrics.Live
	l.SocketIOPolling, l.SocketIOWebSocket = s.engine.Transports()
	for _, n := range s.namespaces() {
		n.mu.RLock()
		if len(n.sockets) > 0 {
			l.Namespaces++
		}
		for id := range n.rooms {
			if _, own := n.sockets[id]; !own {
				l.Rooms++ // a socket's own room (its id) is not counted
			}
		}
		for _, sock := range n.sockets {
			if sock.conn.session.Transport() == engine.TransportWebSocket {
				l.SocketsWebSocket++
			} else {
				l.SocketsPolling++
			}
		}
		n.mu.RUnlock()
	}
	return l
}

// namespaces lists every namespace with sockets of its own (static ones and
// OfFunc children; not the OfFunc parents).
func (s *Server) namespaces() []*Namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]*Namespace, 0, len(s.static)+len(s.children))
	for _, n := range s.static {
		all = append(all, n)
	}
	for _, n := range s.children {
		all = append(all, n)
	}
	return all
}

// newSocketID returns a random 20-character id that is also a valid
// subject token (base64url), unique across nodes.
func newSocketID() string {
	return randid.URL(15)
}
