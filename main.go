// Command sockbus is a realtime server: plain WebSocket channels and the
// Socket.IO protocol on an embedded NATS bus with JetStream history.
//
// main.go only wires things: flags → bus → edges → http.Server, signals, and
// an ordered shutdown (stop accepting, hand off stream leaderships, tell
// clients, drain the bus, stop NATS).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockbus/sockbus/assets"
	"github.com/sockbus/sockbus/bus"
	conf "github.com/sockbus/sockbus/config"
	"github.com/sockbus/sockbus/handlers"
	"github.com/sockbus/sockbus/health"
	"github.com/sockbus/sockbus/internal/connlimit"
	"github.com/sockbus/sockbus/internal/datadir"
	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/metrics/prom"
	"github.com/sockbus/sockbus/replay"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/channels"
	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// config is what run needs: the operator's settings (package config) plus
// hooks that only tests set.
type config struct {
	conf.Config

	// onListen, when set, is called with the bound HTTP address (tests).
	onListen func(addr string, b *bus.Bus)
	// onMetricsListen, when set, is called with the --metrics-addr address (tests).
	onMetricsListen func(addr string)
	// pingInterval/pingTimeout override the keepalive (tests).
	pingInterval, pingTimeout time.Duration
	// logOut receives the log lines instead of stderr (tests).
	logOut io.Writer
}

func defaultConfig() config {
	return config{Config: conf.Default()}
}

func newLogger(cfg config) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q", cfg.LogLevel)
	}
	w := cfg.logOut
	if w == nil {
		w = os.Stderr
	}
	opts := &slog.HandlerOptions{Level: l}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

func main() {
	os.Exit(cli(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// cli runs a command line and returns the exit status: sockbus [flags],
// sockbus version, sockbus config print [flags], sockbus config default,
// sockbus token [flags].
func cli(args, environ []string, stdout, stderr io.Writer) int {
	fail := func(status int, err error) int {
		fmt.Fprintln(stderr, "sockbus:", err)
		return status
	}
	name := "sockbus"
	if len(args) > 0 {
		switch args[0] {
		case "version":
			writeVersion(stdout, conf.Default().ClientDir)
			return 0
		case "token":
			return tokenCmd(args[1:], environ, stdout, stderr)
		case "config":
			sub := ""
			if len(args) > 1 {
				sub = args[1]
			}
			switch sub {
			case "default":
				if err := conf.WriteDefault(stdout); err != nil {
					return fail(1, err)
				}
				return 0
			case "print":
				cfg, origins, err := conf.Load("sockbus config print", args[2:], environ, stderr)
				if errors.Is(err, flag.ErrHelp) {
					return 0
				}
				if err != nil {
					return fail(2, err)
				}
				if err := conf.Print(stdout, cfg, origins); err != nil {
					return fail(1, err)
				}
				return 0
			}
			return fail(2, errors.New("usage: sockbus config print [flags] | sockbus config default"))
		}
	}
	c, _, err := conf.Load(name, args, environ, stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, "\nCommands: sockbus version, sockbus config print [flags], sockbus config default, sockbus token --sub USER [flags]\n")
		return 0
	}
	if err != nil {
		return fail(2, err)
	}
	cfg := defaultConfig()
	cfg.Config = c
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		if logger, lerr := newLogger(cfg); lerr == nil {
			logger.Error("sockbus stopped", "err", err)
		} else {
			fmt.Fprintln(stderr, "sockbus:", err)
		}
		return 1
	}
	return 0
}

// run serves until ctx is done, then shuts down in order.
func run(ctx context.Context, cfg config) error {
	logger, err := newLogger(cfg)
	if err != nil {
		return err
	}
	pre, err := preflight(cfg) // every setting, before anything starts
	if err != nil {
		return err
	}
	warnPublicMetrics(cfg, logger)
	// Before listening or starting NATS: a directory that is taken or
	// unwritable fails now, with the path and the reason.
	// An edge on an external NATS (--nats-url) keeps no data: no dir, no lock.
	if cfg.NATSURL == "" {
		lock, err := datadir.Claim(cfg.DataDir)
		if err != nil {
			return err
		}
		defer lock.Release()
	}
	tcpLn, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", cfg.Addr, err)
	}
	defer tcpLn.Close()
	counters := new(metrics.Set)
	// The limits also count what the listener does not see: polling
	// sessions, and requests other nodes forward here (wsedge).
	limits := connlimit.Listen(tcpLn, connlimit.Config{
		Max: int(cfg.MaxConns), PerIP: int(cfg.MaxConnsPerIP), Warn: ratelog.New(logger, 0), Metrics: counters,
	})
	var ln net.Listener = limits
	scheme := "http"
	if pre.tls != nil {
		// HTTP/1.1 only (no h2 in NextProtos): WebSocket upgrades hijack the connection.
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*pre.tls}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	// Serve at once: /healthz and /readyz answer 503 until the node is up.
	hc := health.New(health.Config{Interval: cfg.ReadyInterval, Timeout: cfg.ReadyTimeout, Logger: logger})
	defer hc.Close()
	var app atomic.Pointer[http.Handler]
	srv := &http.Server{
		Handler:           withHealth(hc, &app),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    headerLimit(cfg.MaxHeaderBytes),
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
		External:     externalNATS(cfg.Config),
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
			OwnNamespaces: cfg.OwnNamespaces,
			OwnChannels:   cfg.OwnChannels,
			LegacyStreams: cfg.LegacyStreams,
		},
		Cluster: bus.ClusterConfig{
			Name:     cfg.ClusterName,
			Listen:   cfg.ClusterAddr,
			Routes:   cfg.Routes,
			NodeName: cfg.NodeName,
			User:     cfg.ClusterUser,
			Password: cfg.ClusterPassword,
			TLSCert:  cfg.ClusterTLSCert,
			TLSKey:   cfg.ClusterTLSKey,
			TLSCA:    cfg.ClusterTLSCA,
		},
		Replicas:     int(cfg.Replicas),
		StoreTimeout: cfg.StoreTimeout,
		Logger:       logger,
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
	authz, err := newAuthorizer(authFlagsOf(cfg.Config), pre.jwt, b, logger)
	if err != nil {
		return err
	}
	perAddress := wsedge.NewAddressBudget(float64(cfg.MaxEventsPerAddress), 0) // shared by both edges
	channels := channels.New(b, authFlagsOf(cfg.Config).channelLimits(channels.Config{
		AddressEvents:   perAddress,
		Authorizer:      authz,
		History:         history,
		MaxMessageBytes: cfg.MaxMessageBytes,
		MaxHistory:      int(cfg.MaxHistory),
		AllowedOrigins:  cfg.CORSOrigins,
		PingInterval:    cfg.pingInterval,
		PingTimeout:     cfg.pingTimeout,
		Logger:          logger,
		Metrics:         counters,
	}))
	io := socketio.NewServer(b, authFlagsOf(cfg.Config).socketIOLimits(socketio.Config{
		AddressEvents:  perAddress,
		Authorizer:     authz,
		Path:           cfg.SocketIOPath,
		History:        history,
		Sessions:       sessions,
		RecoveryWindow: cfg.RecoveryWindow,
		MaxHistory:     int(cfg.MaxHistory),
		Engine: engine.Config{
			MaxPayload:      cfg.MaxMessageBytes,
			CORS:            corsConfig(cfg.CORSOrigins),
			BodyReadTimeout: cfg.HTTPBodyTimeout,
			Limits:          limits,
		},
		Logger:  logger,
		Metrics: counters,
	}))
	handlers.Relay(io, logger)
	client := openClient(cfg.ClientDir, logger)
	var demo *assets.Demo
	if cfg.Demo {
		demo = assets.NewDemo(io.Path())
	}
	admin, err := startAdmin(adminFlagsOf(cfg.Config), io, b, counters, logger)
	if err != nil {
		return err
	}
	if admin != nil {
		defer admin.Close() // idempotent: the ordered close below comes first
	}
	metricsHandler := prom.Handler(prom.Sources{
		Set:            counters,
		Live:           func() metrics.Live { return io.Live().Add(channels.Live()) },
		StoreBytes:     b.StoreBytes,
		ClusterPeers:   b.ClusterPeers,
		BusDisconnects: b.Disconnects,
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
	router := newRouter(channels, io, routedMetrics, client, demo)
	if admin != nil {
		router = withAdminUI(router, adminUI(cfg.AdminUIDir, logger))
	}
	app.Store(&router)
	hc.Live(b.Alive)
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
	cluster := "off"
	if cfg.ClusterName != "" {
		cluster = cfg.ClusterName + " as " + cfg.NodeName + " on " + cfg.ClusterAddr
	}
	natsAuth := "none (in-process)"
	if cfg.NATSUser != "" {
		natsAuth = "user " + cfg.NATSUser
	}
	var authModes []string
	if cfg.AuthJWTKey != "" {
		authModes = append(authModes, "jwt")
	}
	if cfg.AuthHook {
		authModes = append(authModes, "hook")
	}
	if authModes == nil {
		authModes = []string{"open"}
	}
	logger.Info("sockbus started",
		"http", scheme+"://"+ln.Addr().String(),
		"socketio", io.Path(),
		"websocket", "/ws/{channel}",
		"data_dir", b.DataDir(),
		"nats", natsWhere,
		"auth", strings.Join(authModes, "+"),
		"nats_auth", natsAuth,
		"cluster", cluster,
		"version", buildVersion().Version)
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
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	hc.Stopping()
	began := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// 1. Stop accepting: Shutdown closes the listener at once, then waits
	// for in-flight HTTP requests while we close the WebSocket edges.
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Shutdown(sctx) }()
	// 2. Hand off the streams this node leads while it still serves: a
	// new leader takes over in tens of milliseconds (a crash costs an
	// election, 4-9 s), so the writes of clients moving away never stall.
	// Bounded: without quorum there is nothing to hand off to.
	t0 := time.Now()
	hctx, hcancel := context.WithTimeout(sctx, handOffTimeout)
	if n, err := b.HandOff(hctx); err != nil {
		logger.Warn("stream leaders not handed off", "err", err)
	} else if n > 0 {
		logger.Info("handed off stream leaders", "streams", n, "took", time.Since(t0).Round(time.Millisecond))
	}
	hcancel()
	var errs []error
	// 3. Tell clients: close every WebSocket with 1001 and every Socket.IO
	// connection (Engine.IO close packet, reason "server shutting down").
	if err := channels.Close(sctx); err != nil {
		errs = append(errs, err)
	}
	if err := io.Close(sctx); err != nil {
		errs = append(errs, err)
	}
	if admin != nil {
		admin.Close()
	}
	if err := <-httpDone; err != nil {
		errs = append(errs, fmt.Errorf("failed to stop http server: %w", err))
	}
	<-serveErr
	// 4. Drain the bus, 5. stop NATS (which hands off the meta leadership).
	if err := b.Close(sctx); err != nil {
		errs = append(errs, err)
	}
	err = errors.Join(errs...)
	if err != nil {
		logger.Warn("shutdown complete, with errors", "took", time.Since(began).Round(time.Millisecond), "err", err)
	} else {
		logger.Info("shutdown complete", "took", time.Since(began).Round(time.Millisecond))
	}
	return err
}

// handOffTimeout bounds the leadership hand-off at shutdown (it takes tens
// of milliseconds with a quorum).
const handOffTimeout = 3 * time.Second

// replay plugs into wsedge through the interfaces wsedge declares.
var (
	_ wsedge.History      = (*replay.Reader)(nil)
	_ wsedge.SessionStore = (*replay.Sessions)(nil)
)

// newRouter routes by path prefix. It does not use http.ServeMux because the
// mux cleans paths ("/ws/%2E%2E" would redirect) and channel names are
// taken verbatim from the escaped path. metrics, if not nil, serves /metrics;
// demo may be nil (--demo=false).
func newRouter(channels *channels.Server, io *socketio.Server, metrics http.Handler, client *assets.Client, demo *assets.Demo) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/metrics" && metrics != nil:
			metrics.ServeHTTP(w, r)
		case p == "/ws" || strings.HasPrefix(p, "/ws/"):
			channels.ServeHTTP(w, r)
		case strings.HasPrefix(p, io.Path()) && client.Serves(p[len(io.Path()):]):
			client.ServeFile(w, r, p[len(io.Path()):])
		case strings.HasPrefix(p, io.Path()):
			io.ServeHTTP(w, r)
		case demo != nil && demo.Serves(p):
			demo.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// openClient finds the socket.io-client bundle: embedded by `make build`,
// else in --client-dir; the log says which, or what to do.
func openClient(dir string, logger *slog.Logger) *assets.Client {
	c := assets.OpenClient(dir)
	switch src, err := c.Source(); {
	case err != nil:
		logger.Warn("socket.io-client bundle not served: not embedded in this build and not found in --client-dir (build with `make build`, or run `npm ci` and set --client-dir)",
			"client_dir", dir, "err", err)
	case src.Embedded:
		logger.Debug("socket.io-client bundle embedded", "version", src.Version)
	default:
		logger.Info("socket.io-client bundle not embedded in this build (make build embeds it): serving it from --client-dir",
			"client_dir", dir, "version", src.Version)
	}
	return c
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

// headerLimit is http.Server.MaxHeaderBytes for --max-header-bytes:
// net/http reads 4 KiB past MaxHeaderBytes before it answers 431, so the
// bound a client meets is the flag's value (which is at least 8 KiB).
func headerLimit(flag int64) int {
	return int(max(flag-4096, 4096))
}

// corsConfig turns --allowed-origins into the engine's CORS settings.
func corsConfig(origins []string) engine.CORS {
	return engine.CORS{AllowedOrigins: origins}
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
