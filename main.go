// Command sockbus is a realtime server: plain WebSocket channels and the
// Socket.IO protocol on an embedded NATS bus with JetStream history.
//
// main.go only wires things: flags → bus → edges → http.Server, signals, and
// an ordered shutdown (stop accepting, tell clients, drain the bus, stop NATS).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/handlers"
	"github.com/sockbus/sockbus/health"
	"github.com/sockbus/sockbus/internal/connlimit"
	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/metrics/prom"
	"github.com/sockbus/sockbus/replay"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/engine"
)

// config is everything the flags set. The zero value is not used directly:
// defaultConfig gives the documented defaults.
type config struct {
	Addr            string
	DataDir         string
	NATSAddr        string
	NATSUser        string
	NATSPassword    string
	MaxMessageBytes int
	LogLevel        string
	SocketIOPath    string
	CORSOrigins     string // --allowed-origins, or its old name --cors-origins
	MaxConns        int64
	MaxConnsPerIP   int64
	HTTPIdleTimeout time.Duration
	HTTPBodyTimeout time.Duration
	MaxHistory      int64
	ClientDir       string
	HistoryMaxAge   time.Duration
	HistoryMaxMsgs  int64
	HistoryMaxBytes int64
	SharedStreams   int64
	OwnNamespaces   string
	OwnChannels     string
	LegacyStreams   string
	RecoveryWindow  time.Duration
	PprofAddr       string
	MetricsAddr     string
	ClusterName     string
	ClusterAddr     string
	ClusterUser     string
	ClusterPassword string
	TLSCert         string
	TLSKey          string
	Routes          string
	NodeName        string
	Replicas        int64
	ShutdownTimeout time.Duration
	ReadyInterval   time.Duration
	ReadyTimeout    time.Duration
	Auth            authFlags

	// onListen, when set, is called with the bound HTTP address (tests).
	onListen func(addr string, b *bus.Bus)
	// onMetricsListen, when set, is called with the --metrics-addr address (tests).
	onMetricsListen func(addr string)
	// pingInterval/pingTimeout override the keepalive (tests).
	pingInterval, pingTimeout time.Duration
}

func defaultConfig() config {
	return config{
		Addr:            ":3000",
		DataDir:         "./data",
		MaxMessageBytes: 1 << 20,
		LogLevel:        "info",
		SocketIOPath:    "/socket.io/",
		ClientDir:       "node_modules/socket.io-client/dist",
		HistoryMaxAge:   24 * time.Hour,
		HistoryMaxMsgs:  bus.DefaultHistoryMaxMsgs,
		HistoryMaxBytes: bus.DefaultHistoryMaxBytes,
		SharedStreams:   4,
		LegacyStreams:   "keep",
		RecoveryWindow:  2 * time.Minute,
		ShutdownTimeout: 10 * time.Second,
		MaxConns:        50_000,
		MaxConnsPerIP:   16_384,
		HTTPIdleTimeout: 60 * time.Second,
		HTTPBodyTimeout: engine.DefaultBodyReadTimeout,
		MaxHistory:      1000,
		ReadyInterval:   health.DefaultInterval,
		ReadyTimeout:    health.DefaultTimeout,
	}
}

// parseFlags reads flags; each flag --x-y has an environment twin SOCKBUS_X_Y
// that sets its default.
func parseFlags(args []string, getenv func(string) string) (config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("sockbus", flag.ContinueOnError)
	str := func(p *string, name, usage string) {
		if v := getenv(envName(name)); v != "" {
			*p = v
		}
		fs.StringVar(p, name, *p, usage+" (env "+envName(name)+")")
	}
	str(&cfg.Addr, "addr", "HTTP listen address for WebSocket, Socket.IO and /healthz")
	str(&cfg.DataDir, "data-dir", "directory for JetStream storage")
	str(&cfg.NATSAddr, "nats-addr", "also accept NATS clients here, e.g. 127.0.0.1:4222 (empty: in-process only)")
	str(&cfg.NATSUser, "nats-user", "NATS user (required with a non-loopback --nats-addr)")
	str(&cfg.NATSPassword, "nats-password", "NATS password (required with a non-loopback --nats-addr)")
	str(&cfg.LogLevel, "log-level", "debug, info, warn or error")
	str(&cfg.SocketIOPath, "socketio-path", "where Socket.IO (Engine.IO) is served")
	str(&cfg.CORSOrigins, "allowed-origins", "comma-separated browser origins allowed besides the server's own (CORS for polling, Origin check on WebSocket upgrades), or * (empty: same origin only)")
	str(&cfg.CORSOrigins, "cors-origins", "old name of --allowed-origins")
	str(&cfg.ClusterName, "cluster-name", "join a NATS cluster of sockbus nodes with this name (empty: single node)")
	str(&cfg.ClusterAddr, "cluster-addr", "route listen address for the cluster, e.g. 127.0.0.1:6222")
	str(&cfg.ClusterUser, "cluster-user", "route user, the same on every node (required with a non-loopback --cluster-addr)")
	str(&cfg.ClusterPassword, "cluster-password", "route password, the same on every node (required with a non-loopback --cluster-addr)")
	str(&cfg.TLSCert, "tls-cert", "PEM certificate (chain) file: serve --addr over TLS (https, wss); needs --tls-key")
	str(&cfg.TLSKey, "tls-key", "PEM private key file of --tls-cert")
	str(&cfg.Routes, "routes", "comma-separated route URLs of the other nodes, e.g. nats-route://10.0.0.2:6222")
	str(&cfg.NodeName, "node-name", "this node's name in the cluster: unique and stable across restarts")
	str(&cfg.PprofAddr, "pprof-addr", "serve Go profiling (net/http/pprof) on this separate address, e.g. 127.0.0.1:6060 (empty: off)")
	str(&cfg.OwnNamespaces, "own-namespaces", "comma-separated namespaces stored each in a stream of its own, e.g. /chat,/news (the others share --shared-streams)")
	str(&cfg.OwnChannels, "own-channels", "comma-separated plain WebSocket channels stored each in a stream of its own")
	str(&cfg.LegacyStreams, "legacy-streams", "keep or delete the per-name streams (SOCKBUS_IO_*, SOCKBUS_WS_*) an older sockbus left in --data-dir")
	str(&cfg.MetricsAddr, "metrics-addr", "serve Prometheus /metrics on this separate address instead of on --addr, e.g. 127.0.0.1:9090")
	str(&cfg.ClientDir, "client-dir", "directory of the socket.io-client bundle served at <socketio-path>socket.io.js")
	var envErr error
	num := func(p *int64, name, usage string) {
		if v := getenv(envName(name)); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				envErr = fmt.Errorf("bad %s: %w", envName(name), err)
			}
			*p = n
		}
		fs.Int64Var(p, name, *p, usage+" (env "+envName(name)+")")
	}
	dur := func(p *time.Duration, name, usage string) {
		if v := getenv(envName(name)); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				envErr = fmt.Errorf("bad %s: %w", envName(name), err)
			}
			*p = d
		}
		fs.DurationVar(p, name, *p, usage+" (env "+envName(name)+")")
	}
	maxMsg := int64(cfg.MaxMessageBytes)
	num(&maxMsg, "max-message-bytes", "largest message a client may send")
	dur(&cfg.HistoryMaxAge, "history-max-age", "drop stored events older than this")
	num(&cfg.HistoryMaxMsgs, "history-max-msgs", "keep at most this many events per stream: each shared stream, each own stream (-1: no limit)")
	num(&cfg.HistoryMaxBytes, "history-max-bytes", "keep at most this many bytes per stream: each shared stream, each own stream (-1: no limit)")
	num(&cfg.SharedStreams, "shared-streams", "how many streams hold the namespaces and channels without one of their own (1..64)")
	num(&cfg.Replicas, "replicas", "copies of each stream and of the session bucket in a cluster (1, or 3)")
	num(&cfg.MaxConns, "max-connections", "connections open at once on --addr, in all (0: no limit)")
	num(&cfg.MaxConnsPerIP, "max-connections-per-ip", "connections open at once on --addr from one IP address (0: no limit)")
	dur(&cfg.HTTPIdleTimeout, "http-idle-timeout", "close a keep-alive HTTP connection idle this long")
	dur(&cfg.HTTPBodyTimeout, "http-body-timeout", "a polling POST body must arrive within this (else 408)")
	num(&cfg.MaxHistory, "max-history", "cap on ?history=N and auth.history")
	dur(&cfg.ReadyInterval, "ready-interval", "how often /readyz checks that this node can store events")
	dur(&cfg.ReadyTimeout, "ready-timeout", "bound on one /readyz check (JetStream account and stream info)")
	dur(&cfg.RecoveryWindow, "recovery-window", "how long a dropped Socket.IO session stays recoverable (0: recovery off)")
	addAuthFlags(fs, &cfg.Auth, str, dur, num, getenv)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if envErr != nil {
		return cfg, envErr
	}
	cfg.MaxMessageBytes = int(maxMsg)
	if cfg.MaxMessageBytes <= 0 {
		return cfg, errors.New("--max-message-bytes must be positive")
	}
	if cfg.SharedStreams < 1 || cfg.SharedStreams > bus.MaxSharedStreams {
		return cfg, fmt.Errorf("--shared-streams must be 1..%d, got %d", bus.MaxSharedStreams, cfg.SharedStreams)
	}
	if cfg.MaxConns < 0 || cfg.MaxConnsPerIP < 0 {
		return cfg, errors.New("--max-connections and --max-connections-per-ip must be 0 (no limit) or positive")
	}
	if cfg.HTTPIdleTimeout <= 0 || cfg.HTTPBodyTimeout <= 0 || cfg.MaxHistory <= 0 {
		return cfg, errors.New("--http-idle-timeout, --http-body-timeout and --max-history must be positive")
	}
	return cfg, nil
}

func envName(flagName string) string {
	return "SOCKBUS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sockbus:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "sockbus:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down in order.
func run(ctx context.Context, cfg config) error {
	logger, err := newLogger(cfg.LogLevel)
	if err != nil {
		return err
	}
	tcpLn, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", cfg.Addr, err)
	}
	defer tcpLn.Close()
	var ln net.Listener = connlimit.Listen(tcpLn, connlimit.Config{
		Max: int(cfg.MaxConns), PerIP: int(cfg.MaxConnsPerIP), Warn: ratelog.New(logger, 0),
	})
	scheme := "http"
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("failed to load --tls-cert/--tls-key: %w", err)
		}
		// HTTP/1.1 only (no h2 in NextProtos): WebSocket upgrades hijack the connection.
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	// Serve at once: /healthz and /readyz answer 503 until the node is up.
	hc := health.New(health.Config{Interval: cfg.ReadyInterval, Timeout: cfg.ReadyTimeout, Logger: logger})
	defer hc.Close()
	var app atomic.Pointer[http.Handler]
	srv := &http.Server{
		Handler:           withHealth(hc, &app),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       cfg.HTTPIdleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	stopServing := func() {
		_ = srv.Close()
		<-serveErr
	}

	b, err := bus.Start(ctx, bus.Config{
		DataDir:      cfg.DataDir,
		NATSAddr:     cfg.NATSAddr,
		NATSUser:     cfg.NATSUser,
		NATSPassword: cfg.NATSPassword,
		MaxPayload:   cfg.MaxMessageBytes,
		History: bus.HistoryConfig{
			MaxAge:   cfg.HistoryMaxAge,
			MaxMsgs:  cfg.HistoryMaxMsgs,
			MaxBytes: cfg.HistoryMaxBytes,
		},
		Layout: bus.LayoutConfig{
			SharedStreams: int(cfg.SharedStreams),
			OwnNamespaces: splitList(cfg.OwnNamespaces),
			OwnChannels:   splitList(cfg.OwnChannels),
			LegacyStreams: cfg.LegacyStreams,
		},
		Cluster: bus.ClusterConfig{
			Name:     cfg.ClusterName,
			Listen:   cfg.ClusterAddr,
			Routes:   splitList(cfg.Routes),
			NodeName: cfg.NodeName,
			User:     cfg.ClusterUser,
			Password: cfg.ClusterPassword,
		},
		Replicas: int(cfg.Replicas),
		Logger:   logger,
	})
	if err != nil {
		stopServing()
		return fmt.Errorf("failed to start bus: %w", err)
	}
	defer b.Close(context.Background()) // no-op after the ordered close below

	history := replay.NewReader(b)
	var sessions wsedge.SessionStore
	if cfg.RecoveryWindow > 0 {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := replay.OpenSessions(sctx, b, cfg.RecoveryWindow)
		cancel()
		if err != nil {
			stopServing()
			return err
		}
		sessions = st
	}
	authz, err := newAuthorizer(cfg.Auth, b, logger)
	if err != nil {
		return err
	}
	counters := new(metrics.Set)
	channels := wsedge.NewChannels(b, cfg.Auth.channelLimits(wsedge.ChannelsConfig{
		Authorizer:      authz,
		History:         history,
		MaxMessageBytes: cfg.MaxMessageBytes,
		MaxHistory:      int(cfg.MaxHistory),
		AllowedOrigins:  splitList(cfg.CORSOrigins),
		PingInterval:    cfg.pingInterval,
		PingTimeout:     cfg.pingTimeout,
		Logger:          logger,
		Metrics:         counters,
	}))
	io := wsedge.NewServer(b, cfg.Auth.socketIOLimits(wsedge.Config{
		Authorizer:     authz,
		Path:           cfg.SocketIOPath,
		ClientDir:      cfg.ClientDir,
		History:        history,
		Sessions:       sessions,
		RecoveryWindow: cfg.RecoveryWindow,
		MaxHistory:     int(cfg.MaxHistory),
		Engine: engine.Config{
			MaxPayload:      cfg.MaxMessageBytes,
			CORS:            corsConfig(cfg.CORSOrigins),
			BodyReadTimeout: cfg.HTTPBodyTimeout,
		},
		Logger:  logger,
		Metrics: counters,
	}))
	handlers.Relay(io, logger)
	if ok, msg := io.ClientBundleReady(); !ok {
		logger.Warn(msg)
	}
	metricsHandler := prom.Handler(prom.Sources{
		Set:          counters,
		Live:         func() metrics.Live { return io.Live().Add(channels.Live()) },
		StoreBytes:   b.StoreBytes,
		ClusterPeers: b.ClusterPeers,
	})
	routedMetrics := metricsHandler
	if cfg.MetricsAddr != "" {
		routedMetrics = nil
		maddr, stopMetrics, err := serveMetrics(cfg.MetricsAddr, metricsHandler, logger)
		if err != nil {
			stopServing()
			return err
		}
		defer stopMetrics()
		if cfg.onMetricsListen != nil {
			cfg.onMetricsListen(maddr)
		}
	}
	router := newRouter(channels, io, routedMetrics)
	app.Store(&router)
	hc.Up(b.CheckStore)
	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(cfg.PprofAddr, logger)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	natsWhere := "in-process only"
	if u := b.ClientURL(); u != "" {
		natsWhere = u
	}
	fmt.Printf("sockbus listening on %s://%s (Socket.IO %s, WebSocket /ws/{channel}), data in %s, NATS %s\n",
		scheme, ln.Addr(), io.Path(), cfg.DataDir, natsWhere)
	if cfg.onListen != nil {
		cfg.onListen(ln.Addr().String(), b)
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		channels.Close(context.Background())
		io.Close(context.Background())
		return fmt.Errorf("http server stopped: %w", err)
	}
	logger.Info("shutting down")
	hc.Stopping()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// 1. Stop accepting: Shutdown closes the listener at once, then waits
	// for in-flight HTTP requests while we close the WebSocket edges.
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Shutdown(sctx) }()
	// 2. Tell clients: close every WebSocket with 1001 and every Socket.IO
	// connection (Engine.IO close packet, reason "server shutting down").
	var errs []error
	if err := channels.Close(sctx); err != nil {
		errs = append(errs, err)
	}
	if err := io.Close(sctx); err != nil {
		errs = append(errs, err)
	}
	if err := <-httpDone; err != nil {
		errs = append(errs, fmt.Errorf("failed to stop http server: %w", err))
	}
	<-serveErr
	// 3. Drain the bus, 4. stop NATS.
	if err := b.Close(sctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// replay plugs into wsedge through the interfaces wsedge declares.
var (
	_ wsedge.History      = (*replay.Reader)(nil)
	_ wsedge.SessionStore = (*replay.Sessions)(nil)
)

// newRouter routes by path prefix. It does not use http.ServeMux because the
// mux cleans paths ("/ws/%2E%2E" would redirect) and channel names are
// taken verbatim from the escaped path. metrics, if not nil, serves /metrics.
func newRouter(channels *wsedge.Channels, io *wsedge.Server, metrics http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/metrics" && metrics != nil:
			metrics.ServeHTTP(w, r)
		case p == "/ws" || strings.HasPrefix(p, "/ws/"):
			channels.ServeHTTP(w, r)
		case strings.HasPrefix(p, io.Path()):
			io.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// withHealth serves /healthz (liveness: for a liveness probe) and /readyz
// (readiness: for a load balancer) from the moment the port is bound, and
// everything else through *app once it is set (503 before).
func withHealth(hc *health.Health, app *atomic.Pointer[http.Handler]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			hc.ServeLive(w, r)
		case "/readyz":
			hc.ServeReady(w, r)
		default:
			if h := app.Load(); h != nil {
				(*h).ServeHTTP(w, r)
				return
			}
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	})
}

// corsConfig turns --allowed-origins into the engine's CORS settings.
func corsConfig(origins string) engine.CORS {
	return engine.CORS{AllowedOrigins: splitList(origins)}
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// serveMetrics serves h at /metrics on its own listener (--metrics-addr).
func serveMetrics(addr string, h http.Handler, logger *slog.Logger) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("failed to listen on --metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	ms := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ms.Serve(ln) }()
	logger.Info("metrics listening", "addr", ln.Addr().String())
	return ln.Addr().String(), func() { _ = ms.Close() }, nil
}

// servePprof serves net/http/pprof on its own listener (never on --addr).
func servePprof(addr string, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on --pprof-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ps := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ps.Serve(ln) }()
	logger.Info("pprof listening", "addr", ln.Addr().String())
	return func() { _ = ps.Close() }, nil
}
