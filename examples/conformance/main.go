// Command conformance serves, on localhost:3000, the reference behaviour that
// socket.io's two official protocol suites expect
// (docs/engine.io-protocol/v4-test-suite and
// docs/socket.io-protocol/v5-test-suite in the socket.io monorepo, "Test
// suite" sections of v4-current.md and v5-current.md):
//
//   - /engine.io/: a raw Engine.IO server that echoes every message back,
//     binary staying binary;
//   - /socket.io/: a Socket.IO server with the namespaces "/" and "/custom".
//     Every socket is sent "auth" with its handshake's auth payload. On "/",
//     "message" is answered with "message-back" and the same arguments, byte
//     for byte (attachments included), and "message-with-ack" is acknowledged
//     with its own arguments.
//
// Both use pingInterval 300ms, pingTimeout 200ms, maxPayload 1e6 and CORS
// for any origin; Socket.IO's connectTimeout is 1s and connection state
// recovery is off. JetStream keeps its files in a
// temporary directory removed on exit. SIGINT or SIGTERM shuts down in
// order: stop accepting, close the clients, drain the bus, stop NATS.
//
// Run it, then in a copy of each suite: npm ci && npm test.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// The suites' server settings.
const (
	addr            = "localhost:3000"
	pingInterval    = 300 * time.Millisecond
	pingTimeout     = 200 * time.Millisecond
	maxPayload      = 1_000_000
	connectTimeout  = time.Second
	shutdownTimeout = 5 * time.Second
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, addr, log); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

// run serves on addr until ctx is done, then shuts down in order.
func run(ctx context.Context, addr string, log *slog.Logger) (err error) {
	lns, err := listenLoopback(ctx, addr)
	if err != nil {
		return err
	}
	defer func() {
		for _, ln := range lns {
			ln.Close() // already closed by Shutdown on the normal path
		}
	}()

	dir, err := os.MkdirTemp("", "sockbus-conformance-")
	if err != nil {
		return fmt.Errorf("failed to create the data directory: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(dir); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("failed to remove %s: %w", dir, rmErr))
		}
	}()
	b, err := bus.Start(ctx, bus.Config{DataDir: dir, Logger: log})
	if err != nil {
		return fmt.Errorf("failed to start bus: %w", err)
	}
	defer b.Close(context.Background()) // no-op after the ordered close below

	engineCfg := engine.Config{
		PingInterval: pingInterval,
		PingTimeout:  pingTimeout,
		MaxPayload:   maxPayload,
		CORS:         engine.CORS{AllowedOrigins: []string{"*"}},
		Logger:       log,
	}
	echo := engine.NewServer(engineCfg, echoSession(log))
	io := socketio.NewServer(b, socketio.Config{
		Path:           "/socket.io/",
		Engine:         engineCfg,
		ConnectTimeout: connectTimeout,
		// Recovery off, as the suites need (it would add "pid" to the
		// CONNECT reply and an offset to every event): no History or
		// Sessions, and a negative window.
		RecoveryWindow: -1,
		Logger:         log,
	})
	referenceApp(io, log)

	mux := http.NewServeMux()
	mux.Handle("/engine.io/", echo)
	mux.Handle(io.Path(), io)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { serveErr <- srv.Serve(ln) }()
		log.Info("listening", "addr", "http://"+ln.Addr().String(), "engine.io", "/engine.io/", "socket.io", io.Path())
	}

	var failed error
	select {
	case <-ctx.Done():
	case failed = <-serveErr:
		failed = fmt.Errorf("http server stopped: %w", failed)
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	errs := []error{failed}
	// 1. Stop accepting; Shutdown then waits for in-flight requests while
	// the engines answer pending polls and close their WebSockets (which
	// Shutdown does not track: they are hijacked).
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Shutdown(sctx) }()
	// 2. Close the clients: Engine.IO close packets, WebSocket close 1001.
	if err := echo.Close(sctx); err != nil {
		errs = append(errs, fmt.Errorf("failed to close engine.io: %w", err))
	}
	if err := io.Close(sctx); err != nil {
		errs = append(errs, fmt.Errorf("failed to close socket.io: %w", err))
	}
	if err := <-httpDone; err != nil {
		errs = append(errs, fmt.Errorf("failed to stop http server: %w", err))
	}
	for range len(lns) - btoi(failed != nil) {
		<-serveErr // http.ErrServerClosed once Shutdown has run
	}
	// 3. Drain the bus, 4. stop NATS (before the data directory goes).
	if err := b.Close(sctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// referenceApp is the suite's reference Socket.IO app (v5-current.md,
// "Test suite").
func referenceApp(io *socketio.Server, log *slog.Logger) {
	emitAuth := func(s *socketio.Socket) {
		// Auth is the CONNECT payload's raw JSON (`{}` when absent): sent as is.
		if err := s.Emit("auth", s.Handshake().Auth); err != nil {
			log.Warn("emit auth failed", "socket", s.ID(), "err", err)
		}
	}
	io.Of("/").OnConnection(func(s *socketio.Socket) {
		emitAuth(s)
		s.On("message", func(e *socketio.Event) {
			// EmitRaw, not Emit: the arguments go back byte for byte,
			// placeholders and attachments included.
			if err := s.Namespace().To(s.ID()).EmitRaw("message-back", e.Args, e.Attachments, nil); err != nil {
				log.Warn("emit message-back failed", "socket", s.ID(), "err", err)
			}
		})
		s.On("message-with-ack", func(e *socketio.Event) {
			if err := e.AckRaw(e.Args, e.Attachments); err != nil {
				log.Debug("ack failed", "socket", s.ID(), "err", err)
			}
		})
	})
	io.Of("/custom").OnConnection(emitAuth)
}

// echoSession returns the onSession callback of the raw Engine.IO echo
// (v4-current.md, "Test suite"): every message goes back as it came, binary
// staying binary.
func echoSession(log *slog.Logger) func(*engine.Session) {
	return func(s *engine.Session) {
		s.OnMessage(func(data []byte, binary bool) {
			if err := s.SendMessage(data, binary); err != nil {
				log.Debug("echo failed", "sid", s.ID(), "err", err)
			}
		})
	}
}

// listenLoopback listens on every loopback address host resolves to (both
// 127.0.0.1 and ::1 when localhost has both), and on nothing else.
func listenLoopback(ctx context.Context, hostPort string) ([]net.Listener, error) {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return nil, err
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("failed to resolve %s: %w", host, err)
	}
	var lns []net.Listener
	seen := map[string]bool{}
	for _, ip := range ips {
		a := net.JoinHostPort(ip.String(), port)
		if !ip.IP.IsLoopback() || seen[a] {
			continue
		}
		seen[a] = true
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("failed to listen on %s: %w", a, err)
		}
		lns = append(lns, ln)
	}
	if len(lns) == 0 {
		return nil, fmt.Errorf("%s resolves to no loopback address", host)
	}
	return lns, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
