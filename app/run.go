package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sockbus/sockbus/assets"
	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/handlers"
	"github.com/sockbus/sockbus/health"
	"github.com/sockbus/sockbus/internal/connlimit"
	"github.com/sockbus/sockbus/internal/datadir"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/metrics/prom"
	"github.com/sockbus/sockbus/presence"
	"github.com/sockbus/sockbus/replay"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/channels"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// replay plugs into wsedge through the interfaces wsedge declares.
var (
	_ wsedge.History           = (*replay.Reader)(nil)
	_ wsedge.SessionBatchStore = (*replay.Sessions)(nil)
)

// run serves until ctx is done, then shuts down in order (shutdown.go).
// The steps: check every setting, claim the data dir, listen and answer
// /healthz at once, start the bus, the edges and the routes, log the
// start-up line.
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
	counters := new(metrics.Set)
	front, err := listen(cfg, pre, counters, logger)
	if err != nil {
		return err
	}
	defer front.tcp.Close()
	// Serve at once: /healthz and /readyz answer 503 until the node is up.
	hc := health.New(healthConfig(cfg.Config, logger))
	defer hc.Close()
	web := serve(cfg, front.ln, hc, logger)

	b, err := bus.Start(ctx, busConfig(cfg.Config, logger))
	if err != nil {
		web.stop()
		return fmt.Errorf("failed to start bus: %w", err)
	}
	defer b.Close(context.Background()) // no-op after the ordered close below

	e, err := startEdges(ctx, cfg, pre, b, front.limits, counters, logger)
	if err != nil {
		web.stop()
		return err
	}
	defer e.closeAdmin() // idempotent: the ordered close comes first
	router, stopRoutes, err := routes(cfg, pre, e, b, counters, logger)
	if err != nil {
		web.stop()
		return err
	}
	defer stopRoutes()
	web.app.Store(&router)
	hc.Live(b.Alive)
	hc.Up(b.CheckStore)

	logger.Info("sockbus started", startLine(cfg, front, e.io.Path(), b)...)
	if cfg.onListen != nil {
		cfg.onListen(front.ln.Addr().String(), b)
	}
	select {
	case <-ctx.Done():
	case err := <-web.serveErr:
		e.channels.Close(context.Background())
		e.io.Close(context.Background())
		if e.presence != nil {
			_ = e.presence.Close(context.Background())
		}
		return fmt.Errorf("http server stopped: %w", err)
	}
	return shutdown(cfg, logger, hc, web, b, e)
}

// frontDoor is --addr: the TCP listener, its connection limits, and TLS
// over them with --tls-cert.
type frontDoor struct {
	tcp    net.Listener
	limits *connlimit.Listener
	ln     net.Listener // what HTTP serves: limits, or TLS over them
	scheme string       // http or https
}

func listen(cfg config, pre checked, counters *metrics.Set, logger *slog.Logger) (frontDoor, error) {
	tcp, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return frontDoor{}, fmt.Errorf("failed to listen on %s: %w", cfg.Addr, err)
	}
	// The limits also count what the listener does not see: polling
	// sessions, and requests other nodes forward here (wsedge).
	f := frontDoor{tcp: tcp, scheme: "http"}
	f.limits = connlimit.Listen(tcp, connLimitConfig(cfg.Config, counters, logger))
	f.ln = f.limits
	if pre.tls != nil {
		// HTTP/1.1 only (no h2 in NextProtos): WebSocket upgrades hijack the connection.
		f.ln = tls.NewListener(f.ln, &tls.Config{Certificates: []tls.Certificate{*pre.tls}, MinVersion: tls.VersionTLS12})
		f.scheme = "https"
	}
	return f, nil
}

// web is the HTTP server on --addr: health at once, the rest (app) once
// it is stored.
type web struct {
	srv      *http.Server
	app      *atomic.Pointer[http.Handler]
	serveErr chan error
}

func serve(cfg config, ln net.Listener, hc *health.Health, logger *slog.Logger) *web {
	w := &web{app: new(atomic.Pointer[http.Handler]), serveErr: make(chan error, 1)}
	w.srv = &http.Server{
		Handler:           withHealth(hc, w.app),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    headerLimit(cfg.MaxHeaderBytes),
		IdleTimeout:       cfg.HTTPIdleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	go func() { w.serveErr <- w.srv.Serve(ln) }()
	return w
}

// stop closes the server at once (a failed start).
func (w *web) stop() {
	_ = w.srv.Close()
	<-w.serveErr
}

// edges are the two products on the bus, and the admin UI's protocol.
type edges struct {
	history  *replay.Reader // both edges' and the HTTP API's
	channels *channels.Server
	io       *socketio.Server
	admin    *handlers.Admin    // nil without --admin-ui
	hooks    *webhooks          // nil without --webhook-url
	presence *presence.Registry // nil with --presence-ttl 0
}

// closeAdmin closes the edges' observers: the admin UI and the webhooks
// (after the edges, so their sockets' disconnects are published).
func (e *edges) closeAdmin() {
	if e.admin != nil {
		e.admin.Close()
	}
	e.hooks.close()
	e.hooks = nil
}

// startEdges starts the plain WebSocket channels and the Socket.IO server
// with what they share: the authorizer, history, and the per-address budget.
func startEdges(ctx context.Context, cfg config, pre checked, b *bus.Bus, limits *connlimit.Listener, counters *metrics.Set, logger *slog.Logger) (*edges, error) {
	history := replay.NewReader(b)
	var sessions wsedge.SessionStore
	if cfg.RecoveryWindow > 0 {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := replay.OpenSessions(sctx, b, cfg.RecoveryWindow)
		cancel()
		if err != nil {
			return nil, err
		}
		sessions = st
	}
	var reg *presence.Registry
	if cfg.PresenceTTL > 0 {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		r, err := presence.Open(pctx, b, presence.Config{TTL: cfg.PresenceTTL,
			Events: cfg.PresenceEvents, MaxList: cfg.presenceMaxList, MaxNodes: int(cfg.PresenceMaxNodes), Logger: logger, Metrics: counters})
		cancel()
		if err != nil {
			return nil, err
		}
		reg = r
	}
	authz := newAuthorizer(cfg.Config, pre.jwt, b, logger)
	perAddress := wsedge.NewAddressBudget(float64(cfg.MaxEventsPerAddress), 0) // shared by both edges

	cc := channelsConfig(cfg.Config)
	cc.AddressEvents, cc.Authorizer, cc.History = perAddress, authz, history
	cc.PingInterval, cc.PingTimeout = cfg.pingInterval, cfg.pingTimeout
	cc.Logger, cc.Metrics, cc.Presence = logger, counters, reg
	e := &edges{history: history, channels: channels.New(b, cc), presence: reg}

	sc := socketIOConfig(cfg.Config)
	sc.AddressEvents, sc.Authorizer, sc.History, sc.Sessions = perAddress, authz, history, sessions
	sc.Engine.Limits = limits
	sc.Logger, sc.Metrics, sc.Presence = logger, counters, reg
	e.io = socketio.NewServer(b, sc)
	handlers.Relay(e.io, logger)

	admin, err := startAdmin(cfg.Config, e.io, b, counters, logger)
	if err != nil {
		return nil, err
	}
	e.admin = admin
	e.hooks, err = startWebhooks(webhookConfig(cfg.Config, pre.webhooks, counters, logger), b, e.io, e.channels)
	if err != nil {
		e.closeAdmin()
		return nil, err
	}
	return e, nil
}

// routes builds what --addr serves besides health (newRouter), and starts
// the listeners of its own that --metrics-addr and --pprof-addr ask for;
// stop closes those.
func routes(cfg config, pre checked, e *edges, b *bus.Bus, counters *metrics.Set, logger *slog.Logger) (h http.Handler, stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	metricsHandler := prom.Handler(prom.Sources{
		Set:            counters,
		Live:           func() metrics.Live { return e.io.Live().Add(e.channels.Live()) },
		StoreBytes:     b.StoreBytes,
		ClusterPeers:   b.ClusterPeers,
		BusDisconnects: b.Disconnects,
		LiveDropped:    b.LiveDropped,
		WebhookBacklog: webhookBacklog(b),
	})
	routedMetrics := metricsHandler
	if cfg.MetricsAddr != "" {
		routedMetrics = nil
		maddr, stopMetrics, err := serveMetrics(cfg.MetricsAddr, metricsHandler, logger)
		if err != nil {
			return nil, nil, err
		}
		stops = append(stops, stopMetrics)
		if cfg.onMetricsListen != nil {
			cfg.onMetricsListen(maddr)
		}
	}
	var demo *assets.Demo
	if cfg.Demo {
		demo = assets.NewDemo(e.io.Path())
	}
	h = newRouter(e.channels, e.io, routedMetrics, openClient(cfg.ClientDir, logger), demo)
	if e.admin != nil {
		h = withAdminUI(h, adminUI(cfg.AdminUIDir, logger))
	}
	wrapAPI, stopAPI, err := startAPI(cfg, pre.api, e, b, counters, logger)
	if err != nil {
		stop()
		return nil, nil, err
	}
	stops = append(stops, stopAPI)
	h = wrapAPI(h)
	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(cfg.PprofAddr, logger)
		if err != nil {
			stop()
			return nil, nil, err
		}
		stops = append(stops, stopPprof)
	}
	return h, stop, nil
}
