package app

import (
	"log/slog"
	"strings"

	"github.com/sockbus/sockbus/auth"
	"github.com/sockbus/sockbus/bus"
	conf "github.com/sockbus/sockbus/config"
	"github.com/sockbus/sockbus/wsedge"
)

// newAuthorizer builds the Authorizer both edges get (docs/security.md);
// nil when nothing is checked (then one warning says the server is open).
// v is preflight's verifier of --auth-jwt-key (nil without one).
func newAuthorizer(c conf.Config, v *auth.Verifier, b *bus.Bus, logger *slog.Logger) wsedge.Authorizer {
	cfg := authConfig(c)
	cfg.JWT = v
	if c.AuthHook {
		if strings.HasPrefix(c.AuthHookSubject, bus.Prefix) {
			logger.Warn("--auth-hook-subject is inside sockbus.>: whoever watches sockbus traffic reads every client's token; the default is outside it",
				"subject", c.AuthHookSubject, "default", auth.HookSubject)
		}
		cfg.Hook = auth.NewHook(b, hookConfig(c, logger))
	}
	au := auth.New(cfg)
	if au.Open() {
		logger.Warn("no authentication configured: every client may connect to every namespace and channel; see --auth-jwt-key and --auth-hook")
		if cfg.Namespaces == nil && cfg.Channels == nil {
			return nil
		}
	}
	return au
}
