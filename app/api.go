package app

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sockbus/sockbus/bus"
	conf "github.com/sockbus/sockbus/config"
	"github.com/sockbus/sockbus/httpapi"
	"github.com/sockbus/sockbus/metrics"
)

// apiConfig is the HTTP server API's (--api-*), keys read by preflight.
func apiConfig(c conf.Config, keys []string, counters *metrics.Set, logger *slog.Logger) httpapi.Config {
	a := httpapi.Config{Keys: keys, RequestsPerSecond: float64(c.APIRequestsPerSecond),
		MaxBodyBytes: int64(c.MaxMessageBytes), BodyTimeout: c.HTTPBodyTimeout, Logger: logger, Metrics: counters}
	if c.APIRequestsPerSecond == 0 {
		a.RequestsPerSecond = -1 // the flag's 0 is "no limit"
	}
	names := authConfig(c)
	if names.Namespaces != nil {
		a.Namespace = names.Namespaces.Match
	}
	if names.Channels != nil {
		a.Channel = names.Channels.Match
	}
	return a
}

// startAPI builds the HTTP server API when --api-key is set: served under
// /api/v1/ on --addr (wrap puts it in front of h), or on --api-addr, a
// listener of its own that stop closes.
func startAPI(cfg config, keys []string, e *edges, b *bus.Bus, counters *metrics.Set, logger *slog.Logger) (wrap func(http.Handler) http.Handler, stop func(), err error) {
	wrap, stop = func(h http.Handler) http.Handler { return h }, func() {}
	if len(keys) == 0 {
		return wrap, stop, nil
	}
	ac := apiConfig(cfg.Config, keys, counters, logger)
	ac.ChannelPresence = e.channels
	api := httpapi.New(e.io, b, e.history, ac)
	if cfg.APIAddr == "" {
		wrap = func(next http.Handler) http.Handler { return withAPI(next, api) }
		return wrap, stop, nil
	}
	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to listen on --api-addr %s: %w", cfg.APIAddr, err)
	}
	srv := &http.Server{Handler: withAPI(http.NotFoundHandler(), api), ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes: headerLimit(cfg.MaxHeaderBytes), IdleTimeout: cfg.HTTPIdleTimeout}
	go func() { _ = srv.Serve(ln) }()
	logger.Info("http api listening", "addr", ln.Addr().String())
	if cfg.onAPIListen != nil {
		cfg.onAPIListen(ln.Addr().String())
	}
	return wrap, func() { _ = srv.Close() }, nil
}

// withAPI serves /api/v1/ with api, the rest with next.
func withAPI(next http.Handler, api *httpapi.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, httpapi.Prefix) {
			api.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
