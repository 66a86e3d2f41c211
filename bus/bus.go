package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/sockbus/sockbus/internal/randid"
)

// Config configures the embedded bus. The zero value works: JetStream under
// ./data, no network listener, 1 MiB messages.
type Config struct {
	// DataDir holds JetStream's files (in DataDir/jetstream). Default "./data".
	DataDir string
	// NATSAddr, when set (e.g. "127.0.0.1:4222"), makes the embedded server
	// accept NATS clients there. Empty: in-process connections only.
	NATSAddr string
	// NATSUser and NATSPassword protect NATSAddr. Required off loopback.
	NATSUser, NATSPassword string
	// MaxPayload bounds one message. Default 1 MiB.
	MaxPayload int
	// History bounds what each stream keeps.
	History HistoryConfig
	// Layout fixes the streams: shared ones and those declared per name.
	Layout LayoutConfig
	// Cluster joins this node to other sockbus nodes in one NATS cluster.
	Cluster ClusterConfig
	// Replicas is how many copies of each stream and of the session bucket
	// the cluster keeps (1, or 3 in a cluster of three or more). Default 1.
	Replicas int
	// StoreTimeout bounds how long a publish is retried while its stream
	// has no leader (an election after a crash takes 4-9 s) before it is
	// reported not stored. Default DefaultStoreTimeout (15s). Each stream's
	// duplicate window is set to cover it.
	StoreTimeout time.Duration
	// ReadyTimeout bounds the wait for the embedded server. Default 10s.
	ReadyTimeout time.Duration
	// Logger receives the bus's own log lines. Default slog.Default().
	Logger *slog.Logger
	// External, when its URL is set, connects to an existing NATS with
	// JetStream instead of running the embedded server: no DataDir, no
	// NATSAddr, no Cluster. Zero value: embedded.
	External ExternalConfig
	// Webhooks, with receivers, adds the webhook stream (webhook.go).
	Webhooks WebhookConfig
}

// ClusterConfig joins several sockbus nodes into one NATS cluster sharing
// JetStream. The zero value means a single node.
type ClusterConfig struct {
	// Name is the cluster's name, the same on every node. Empty: no cluster.
	Name string
	// Listen is this node's route address (host:port) the others connect to.
	Listen string
	// Routes are the route URLs of the other nodes (nats-route://host:port).
	Routes []string
	// NodeName names this node in the cluster: unique, and the same across
	// restarts (JetStream's consensus knows peers by it).
	NodeName string
	// User and Password are the route credentials, the same on every node:
	// this node refuses routes without them and sends them on the routes it
	// dials (added to Routes URLs that carry none). Required when Listen is
	// not loopback: a node that asks for none lets anyone join the cluster.
	User, Password string
	// TLSCert and TLSKey (PEM files) are this node's route certificate and
	// key; TLSCA (PEM) holds the CA that signed every node's certificate.
	// Set all three or none. With them every route, accepted or dialled,
	// is TLS with both certificates verified against TLSCA (and a dialled
	// route's host against its certificate): a plain route, or one with a
	// certificate from another CA, is refused.
	TLSCert, TLSKey, TLSCA string
}

// HistoryConfig bounds every sockbus stream: each shared stream as a whole
// (all the names hashed to it together) and each declared name's own stream.
type HistoryConfig struct {
	// MaxAge drops messages older than this. Default
	// DefaultHistoryMaxAge; negative: no limit.
	MaxAge time.Duration
	// MaxMsgs keeps at most this many messages per stream. It also bounds
	// the stream's subject index (about 150 B per distinct stored subject).
	// Default DefaultHistoryMaxMsgs; negative: no limit.
	MaxMsgs int64
	// MaxBytes keeps at most this many bytes per stream. Default
	// DefaultHistoryMaxBytes; negative: no limit.
	MaxBytes int64
}

// Default per-stream retention bounds.
const (
	DefaultHistoryMaxAge   = 24 * time.Hour
	DefaultHistoryMaxMsgs  = 1_000_000
	DefaultHistoryMaxBytes = 1 << 30
)

// Defaults of the store's place, the largest message and the streams'
// layout (Config.DataDir, Config.MaxPayload, LayoutConfig.SharedStreams).
const (
	DefaultDataDir       = "./data"
	DefaultMaxPayload    = 1 << 20
	DefaultSharedStreams = 4
	DefaultReplicas      = 1
	// DefaultLegacyStreams keeps an older layout's streams (LayoutConfig.LegacyStreams).
	DefaultLegacyStreams = "keep"
)

func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.History.MaxAge == 0 {
		c.History.MaxAge = DefaultHistoryMaxAge
	} else if c.History.MaxAge < 0 {
		c.History.MaxAge = -1
	}
	if c.History.MaxMsgs == 0 {
		c.History.MaxMsgs = DefaultHistoryMaxMsgs
	} else if c.History.MaxMsgs < 0 {
		c.History.MaxMsgs = -1
	}
	if c.History.MaxBytes == 0 {
		c.History.MaxBytes = DefaultHistoryMaxBytes
	} else if c.History.MaxBytes < 0 {
		c.History.MaxBytes = -1
	}
	if c.Layout.SharedStreams <= 0 {
		c.Layout.SharedStreams = DefaultSharedStreams
	}
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = DefaultStoreTimeout
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 10 * time.Second
		if c.Cluster.Name != "" {
			c.ReadyTimeout = time.Minute // a quorum of nodes must come up
		}
	}
	if c.Replicas <= 0 {
		c.Replicas = DefaultReplicas
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Bus is the node's connection to its NATS with JetStream: an embedded
// server it runs, or an external one (Config.External).
// All methods are safe for concurrent use.
type Bus struct {
	cfg    Config
	ns     *server.Server // nil on an external NATS
	nc     *nats.Conn     // the node's: publishes, subscriptions, session writes
	rc     *nats.Conn     // history reads' (ReadConn), apart from nc
	dial   func(name string) (*nats.Conn, error)
	js     jetstream.JetStream
	log    *slog.Logger
	nodeID string

	layout *layout // fixed at Start
	// liveByNode: the node publishes its stored events live itself, its
	// streams have no RePublish (live.go). Fixed at Start.
	liveByNode  bool
	streamNames map[string]string // the layout's stream names, for parseStored
	local       localSubs         // liveByNode: live subscriptions served directly (local.go)
	liveq       liveQueue         // their stored events, in order
	conn        connState
	replies     *replyMux
	ready       atomic.Bool
	closeMu     sync.Mutex
	closed      bool

	webhooks *webhooks // nil without Config.Webhooks.Receivers
	// departures follows the peers that are stopping (stopping.go); nil
	// without an embedded cluster.
	departures *departures
}

// Start connects the node to its bus: to the external NATS of
// cfg.External when it names one, else to an embedded server it runs.
// Either way it then opens JetStream and the streams of the layout.
func Start(ctx context.Context, cfg Config) (*Bus, error) {
	cfg = cfg.withDefaults()
	if cfg.Layout.SharedStreams > MaxSharedStreams {
		return nil, fmt.Errorf("bus: --shared-streams must be 1..%d, got %d", MaxSharedStreams, cfg.Layout.SharedStreams)
	}
	if l := cfg.Layout.LegacyStreams; l != "" && l != "keep" && l != "delete" {
		return nil, fmt.Errorf("bus: --legacy-streams must be keep or delete, got %q", l)
	}
	if cfg.External.URL != "" {
		return startExternal(ctx, cfg)
	}
	return startEmbedded(ctx, cfg)
}

// startEmbedded runs the embedded server, waits until it accepts
// connections and connects to it in-process.
func startEmbedded(ctx context.Context, cfg Config) (*Bus, error) {
	opts := &server.Options{
		ServerName:         "sockbus",
		JetStream:          true,
		StoreDir:           filepath.Join(cfg.DataDir, "jetstream"),
		NoSigs:             true,
		NoLog:              true,
		MaxPayload:         int32(cfg.MaxPayload + 64<<10), // room for headers around a max-size message
		DontListen:         true,
		JetStreamMaxMemory: 64 << 20,
	}
	if cfg.NATSAddr != "" {
		host, port, err := splitHostPort(cfg.NATSAddr)
		if err != nil {
			return nil, err
		}
		if !isLoopback(host) && (cfg.NATSUser == "" || cfg.NATSPassword == "") {
			return nil, ErrAuthRequired
		}
		if (cfg.NATSUser == "") != (cfg.NATSPassword == "") {
			return nil, fmt.Errorf("bus: set both --nats-user and --nats-password, or neither")
		}
		opts.DontListen = false
		opts.Host, opts.Port = host, port
	}
	if cfg.Cluster.Name != "" {
		if err := clusterOptions(opts, &cfg); err != nil {
			return nil, err
		}
	}
	if cfg.NATSUser != "" {
		// Plain Users with no system account: the server adds no
		// credential-less fallback user (see NATS-GWS-NOTES, auth trap).
		opts.Users = []*server.User{{Username: cfg.NATSUser, Password: serverPassword(cfg.NATSPassword)}}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("failed to configure embedded NATS: %w", err)
	}
	ns.SetLoggerV2(slogAdapter{cfg.Logger.With("component", "nats")}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(cfg.ReadyTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, ErrNotReady
	}
	// Nothing but this node can write to its streams: no other node, no
	// NATS listener for backends (live.go).
	soleWriter := cfg.Cluster.Name == "" && cfg.NATSAddr == ""
	b := &Bus{cfg: cfg, ns: ns, log: cfg.Logger, nodeID: ns.ID(), liveByNode: soleWriter}
	mappings, err := b.mappings()
	if err == nil {
		for _, m := range mappings {
			if err = ns.GlobalAccount().AddMapping(m[0], m[1]); err != nil {
				err = fmt.Errorf("failed to map %s: %w", m[0], err)
				break
			}
		}
	}
	if err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}
	b.dial = func(name string) (*nats.Conn, error) {
		// In-process: nothing to wait for between attempts but the server.
		// No write deadline on the in-process pipe (nats.go's default is a
		// minute): setting and clearing one armed and stopped a timer on
		// every flush, and the server's read loop is all a write waits for.
		opts := append(b.connOptions(name), nats.InProcessServer(b.countDials(name, ns)), nats.ReconnectWait(reconnectWait),
			nats.FlusherTimeout(0))
		if cfg.NATSUser != "" {
			opts = append(opts, nats.UserInfo(cfg.NATSUser, cfg.NATSPassword))
		}
		return nats.Connect("", opts...)
	}
	nc, err := b.dial(nodeConnName)
	if err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("failed to connect to embedded NATS: %w", err)
	}
	if err := b.open(ctx, nc); err != nil {
		return nil, err
	}
	return b, nil
}

// connOptions are the options of the node's connections in either mode.
func (b *Bus) connOptions(name string) []nats.Option {
	buf := nats.DefaultReconnectBufSize
	if name == nodeConnName {
		buf = -1 // publishes fail while reconnecting, none overtakes a lost one (order.go)
	}
	return []nats.Option{
		nats.Name(name),
		nats.ReconnectBufSize(buf),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) { b.disconnected(nc, name, err) }),
		nats.ReconnectHandler(func(*nats.Conn) { b.reconnected(name) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			b.log.Warn("bus subscription error", "subject", subj, "err", err)
		}),
	}
}

// open completes Start on the node's connection, embedded or external:
// JetStream, then every stream of the layout. On failure it closes the bus.
func (b *Bus) open(ctx context.Context, nc *nats.Conn) error {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			b.log.Warn("bus publish not stored", "subject", m.Subject, "err", err)
		}))
	if err != nil {
		nc.Close()
		b.shutdownServer()
		return fmt.Errorf("failed to open JetStream: %w", err)
	}
	b.nc, b.js = nc, js
	if b.cfg.Cluster.Name != "" {
		if _, err := nc.Subscribe(syncSubject, func(m *nats.Msg) { _ = m.Respond(nil) }); err != nil {
			nc.Close()
			b.shutdownServer()
			return fmt.Errorf("failed to subscribe to %s: %w", syncSubject, err)
		}
	}
	if b.rc, err = b.dial(readConnName); err != nil {
		nc.Close()
		b.shutdownServer()
		return fmt.Errorf("failed to open the history reads' connection: %w", err)
	}
	if err := b.followDepartures(); err != nil {
		nc.Close()
		b.rc.Close()
		b.shutdownServer()
		return err
	}
	b.replies = newReplyMux(b, b.cfg.StoreTimeout)
	if err := b.waitJetStream(ctx); err != nil {
		b.Close(context.Background())
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, b.cfg.ReadyTimeout)
	err = b.openLayout(lctx)
	if err == nil {
		err = b.openWebhooks(lctx)
	}
	cancel()
	if err != nil {
		b.Close(context.Background())
		return err
	}
	b.ready.Store(true)
	return nil
}

// shutdownServer stops the embedded server, if this node runs one.
func (b *Bus) shutdownServer() {
	if b.ns != nil {
		b.ns.Shutdown()
		b.ns.WaitForShutdown()
	}
}

// waitJetStream polls the JetStream API until it answers.
func (b *Bus) waitJetStream(ctx context.Context) error {
	deadline := time.Now().Add(b.cfg.ReadyTimeout)
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := b.js.AccountInfo(actx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("failed to reach JetStream: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// JetStream is the node's JetStream handle, for package replay (and tests).
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// NodeID identifies this node: its embedded server's id, or on an
// external NATS a random id drawn at Start.
func (b *Bus) NodeID() string { return b.nodeID }

// DataDir is where JetStream keeps its files ("" on an external NATS).
func (b *Bus) DataDir() string {
	if b.ns == nil {
		return ""
	}
	return b.cfg.DataDir
}

// History is the retention applied to streams.
func (b *Bus) History() HistoryConfig { return b.cfg.History }

// Ready reports whether the bus and JetStream are usable.
func (b *Bus) Ready() bool {
	return b.ready.Load() && b.nc.IsConnected() && (b.ns == nil || b.ns.JetStreamEnabled())
}

// ClientURL is the NATS URL backends reach this node's bus at: the
// embedded server's listener ("" when it takes no network connections), or
// the external server the node is connected to (without credentials).
func (b *Bus) ClientURL() string {
	if b.ns == nil {
		return b.nc.ConnectedUrlRedacted()
	}
	if b.cfg.NATSAddr == "" {
		return ""
	}
	return b.ns.ClientURL()
}

// Close drains the node's subscriptions and publishes, then shuts the
// embedded server down and waits for it. It is idempotent.
func (b *Bus) Close(ctx context.Context) error {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.conn.closing.Store(true)
	b.ready.Store(false)
	var errs []error
	if b.nc != nil && b.nc.IsClosed() {
		// Lost for good: nothing will be acknowledged or drained.
		gone, cancel := context.WithCancel(ctx)
		cancel()
		b.replies.close(gone)
		b.liveq.close(gone)
	} else if b.nc != nil {
		select {
		case <-b.js.PublishAsyncComplete():
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("failed to flush publishes: %w", ctx.Err()))
		}
		b.replies.close(ctx)
		b.liveq.close(ctx) // after the last acknowledgement, before the subscriptions drain
		closed := make(chan struct{})
		b.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
		if err := b.nc.Drain(); err != nil {
			b.nc.Close()
		}
		select {
		case <-closed:
		case <-ctx.Done():
			b.nc.Close()
			errs = append(errs, fmt.Errorf("failed to drain bus: %w", ctx.Err()))
		}
	}
	b.drained(ctx) // a whole cluster stopping keeps its quorum until all drained
	if b.rc != nil {
		b.rc.Close()
	}
	b.shutdownServer()
	return errors.Join(errs...)
}

// clusterOptions configures routes. A clustered server cannot run with
// DontListen (routes wait for the client listener), so without --nats-addr
// it listens on a random loopback port behind generated credentials.
func clusterOptions(opts *server.Options, cfg *Config) error {
	c := cfg.Cluster
	if c.Listen == "" || c.NodeName == "" {
		return errors.New("bus: a cluster needs a route listen address and a node name")
	}
	host, port, err := splitHostPort(c.Listen)
	if err != nil {
		return err
	}
	if (c.User == "") != (c.Password == "") {
		return errors.New("bus: set both --cluster-user and --cluster-password, or neither")
	}
	if !isLoopback(host) && c.User == "" {
		return ErrRouteAuthRequired
	}
	if err := routeTLS(opts, c); err != nil {
		return err
	}
	opts.ServerName = c.NodeName
	opts.Cluster.Name, opts.Cluster.Host, opts.Cluster.Port = c.Name, host, port
	opts.Routes = server.RoutesFromStr(strings.Join(c.Routes, ","))
	if c.User != "" {
		opts.Cluster.Username, opts.Cluster.Password = c.User, c.Password
		// A dialing node sends only its route URL's userinfo.
		for _, u := range opts.Routes {
			if u.User == nil {
				u.User = url.UserPassword(c.User, c.Password)
			}
		}
	}
	if opts.DontListen {
		opts.DontListen = false
		opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
		if cfg.NATSUser == "" {
			cfg.NATSUser, cfg.NATSPassword = "sockbus-"+randid.Hex(6), randid.Hex(16)
		}
	}
	return nil
}

// routeTLSTimeout bounds a route's TLS handshake (seconds, as nats-server
// counts); a loaded node may take more than nats-server's default half second.
const routeTLSTimeout = 5

// routeTLS makes every route TLS with verified certificates on both sides.
func routeTLS(opts *server.Options, c ClusterConfig) error {
	if c.TLSCert == "" && c.TLSKey == "" && c.TLSCA == "" {
		return nil
	}
	if c.TLSCert == "" || c.TLSKey == "" || c.TLSCA == "" {
		return errors.New("bus: set --cluster-tls-cert, --cluster-tls-key and --cluster-tls-ca together, or none")
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: c.TLSCert, KeyFile: c.TLSKey, CaFile: c.TLSCA, Verify: true})
	if err != nil {
		return fmt.Errorf("failed to load the cluster TLS files: %w", err)
	}
	tc.RootCAs = tc.ClientCAs // the same config dials routes: verify the peer's certificate too
	opts.Cluster.TLSConfig = tc
	opts.Cluster.TLSTimeout = routeTLSTimeout
	return nil
}

// Replicas is how many copies of each stream the cluster keeps.
func (b *Bus) Replicas() int { return b.cfg.Replicas }

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("bus: bad NATS address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bus: bad NATS port in %q", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// HasInterest reports whether any subscriber, on this node or (through
// routes) another one, listens on subject. It costs a subscription-list
// lookup, so publishes nobody hears can be skipped. On an external NATS a
// client cannot see the server's interest: it is always true there (the
// server drops what nobody hears; see Bus.External).
func (b *Bus) HasInterest(subject string) bool {
	if b.ns == nil {
		return true
	}
	return b.ns.GlobalAccount().SubscriptionInterest(subject)
}

// Interest counts the nodes present on a presence subject (one
// SubscribePresence each). With the embedded server it counts the
// subscriptions the server knows: its own clients' and, once per route,
// those of the other nodes. On an external NATS it asks: see pingPresence.
func (b *Bus) Interest(subject string) int {
	if b.ns == nil {
		return b.pingPresence(subject)
	}
	return b.ns.GlobalAccount().Interest(subject)
}

// serverPassword gives the embedded server a bcrypt hash of the password:
// it compares hashes the same way and, unlike with plaintext, does not warn
// "Plaintext passwords detected". The hash never leaves this process, so
// the cheapest cost keeps each NATS connect fast. Passwords bcrypt cannot
// take (over 72 bytes) stay plaintext and keep the warning.
func serverPassword(pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		return pw
	}
	return string(h)
}
