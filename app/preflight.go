package app

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/sockbus/sockbus/auth"
	conf "github.com/sockbus/sockbus/config"
	"github.com/sockbus/sockbus/httpapi"
	"github.com/sockbus/sockbus/webhook"
)

// checked is what run builds from the settings before it claims the data
// dir, listens or starts the bus, so that a bad setting stops it there,
// with nothing written and no port opened.
type checked struct {
	jwt *auth.Verifier   // nil without --auth-jwt-key
	tls *tls.Certificate // nil without --tls-cert
	// webhooks are the events --webhook-events selects.
	webhooks webhook.Events
	api      []string // the API keys (--api-key, files read); none: the API is off
}

// preflight checks every setting that can be checked without the bus:
// the JWT key, the admin login, the TLS key pair and the Socket.IO path.
// Its errors never quote a secret.
func preflight(cfg config) (checked, error) {
	var c checked
	if err := checkSocketIOPath(cfg); err != nil {
		return c, err
	}
	v, err := jwtVerifier(cfg.Config)
	if err != nil {
		return c, err
	}
	c.jwt = v
	if cfg.AdminUI {
		if err := checkAdminLogin(cfg.AdminUser, cfg.AdminPasswordHash); err != nil {
			return c, err
		}
	}
	if c.webhooks, err = checkWebhooks(cfg.Config); err != nil {
		return c, err
	}
	if c.api, err = httpapi.ReadKeys(cfg.APIKey); err != nil {
		return c, fmt.Errorf("bad --api-key: %w", err)
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return c, fmt.Errorf("failed to load --tls-cert/--tls-key: %w", err)
		}
		c.tls = &cert
	}
	return c, nil
}

// jwtVerifier builds the verifier of --auth-jwt-key; nil without one.
func jwtVerifier(c conf.Config) (*auth.Verifier, error) {
	if c.AuthJWTKey == "" {
		return nil, nil
	}
	v, err := auth.NewVerifier(c.AuthJWTKey, auth.WithAudience(c.AuthJWTAudience), auth.WithIssuer(c.AuthJWTIssuer))
	if err != nil {
		return nil, fmt.Errorf("bad --auth-jwt-key: %w", err)
	}
	return v, nil
}

// checkAdminLogin: both or neither, and a bcrypt hash (as handlers.NewAdmin
// requires, checked here before anything starts).
func checkAdminLogin(user, hash string) error {
	if (user == "") != (hash == "") {
		return errors.New("bad admin UI flags: set both --admin-user and --admin-password-hash, or neither")
	}
	if hash != "" {
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return fmt.Errorf("bad --admin-password-hash: not a bcrypt hash (make one with htpasswd -bnBC 10 \"\" PASSWORD): %w", err)
		}
	}
	return nil
}

// checkSocketIOPath refuses a --socketio-path that another route of
// --addr would shadow (newRouter, withAdminUI): the server would start
// healthy and serve nothing there.
func checkSocketIOPath(cfg config) error {
	p := cfg.SocketIOPath
	switch {
	case strings.HasPrefix(p, "/ws/"):
		return fmt.Errorf("bad --socketio-path %q: /ws/ is the plain WebSocket channels' path; pick another, e.g. /socket.io/", p)
	case cfg.AdminUI && strings.HasPrefix(p, adminPath):
		return fmt.Errorf("bad --socketio-path %q: %s serves the admin UI's files with --admin-ui; pick another, e.g. /socket.io/", p, adminPath)
	case cfg.Demo && p == "/":
		return fmt.Errorf("bad --socketio-path %q: it would take the demo page's /; pick another, or turn the demo off (--demo=false)", p)
	case len(cfg.APIKey) > 0 && cfg.APIAddr == "" && strings.HasPrefix(p, httpapi.Prefix):
		return fmt.Errorf("bad --socketio-path %q: %s is the HTTP server API's with --api-key; pick another, e.g. /socket.io/", p, httpapi.Prefix)
	}
	return nil
}

// warnPublicMetrics: with client authentication on, /metrics on --addr
// still answers anyone who reaches it.
func warnPublicMetrics(cfg config, logger *slog.Logger) {
	if (cfg.AuthJWTKey != "" || cfg.AuthHook) && cfg.MetricsAddr == "" {
		logger.Warn("clients need credentials but /metrics answers anyone on --addr: set --metrics-addr to a private address (e.g. 127.0.0.1:9090)",
			"addr", cfg.Addr)
	}
}
