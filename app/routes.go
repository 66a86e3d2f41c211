package app

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sockbus/sockbus/assets"
	"github.com/sockbus/sockbus/health"
	"github.com/sockbus/sockbus/wsedge/channels"
	"github.com/sockbus/sockbus/wsedge/socketio"
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
