package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sockbus/sockbus/assets"
	"github.com/sockbus/sockbus/bus"
	conf "github.com/sockbus/sockbus/config"
	"github.com/sockbus/sockbus/handlers"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// adminFlags turn on the Socket.IO Admin UI (docs/admin-ui.md).
type adminFlags struct {
	On           bool
	User         string
	PasswordHash string // bcrypt
	ReadOnly     bool
	Dir          string // the UI's static files, served at /admin/
	MaxSessions  int
	SessionTTL   time.Duration
	Login        handlers.AdminConfig // only its login limits
}

// adminPath is where the UI's static files are served; its Socket.IO
// namespace is "/admin" (under --socketio-path, so the two never meet).
const adminPath = "/admin/"

// adminFlagsOf picks the admin UI settings out of the configuration.
func adminFlagsOf(c conf.Config) adminFlags {
	return adminFlags{On: c.AdminUI, User: c.AdminUser, PasswordHash: c.AdminPasswordHash, ReadOnly: c.AdminReadOnly, Dir: c.AdminUIDir,
		MaxSessions: int(c.AdminMaxSessions), SessionTTL: c.AdminSessionTTL,
		Login: handlers.AdminConfig{
			MaxLoginFailuresPerAddress: int(c.AdminLoginFailuresPerAddress), MaxLoginFailures: int(c.AdminLoginFailures),
			LoginWindow: c.AdminLoginWindow, LoginConcurrency: int(c.AdminLoginConcurrency),
			LoginWait: c.AdminLoginWait, MaxLoginFailuresPerConn: int(c.AdminLoginFailuresPerConn),
		}}
}

// startAdmin serves the admin UI's protocol on io; nil when it is off.
func startAdmin(a adminFlags, io *socketio.Server, b *bus.Bus, counters *metrics.Set, logger *slog.Logger) (*handlers.Admin, error) {
	if !a.On {
		return nil, nil
	}
	cfg := a.Login
	cfg.User, cfg.PasswordHash, cfg.ReadOnly, cfg.Logger = a.User, a.PasswordHash, a.ReadOnly, logger
	cfg.MaxSessions, cfg.SessionTTL, cfg.Metrics = a.MaxSessions, a.SessionTTL, counters
	adm, err := handlers.NewAdmin(io, b, cfg)
	if err != nil {
		return nil, fmt.Errorf("bad admin UI flags: %w", err)
	}
	return adm, nil
}

// adminUI serves the UI's static files under adminPath: embedded by `make
// build`, else from dir; when neither has them, the log and the 404 say
// what to do.
func adminUI(dir string, logger *slog.Logger) http.Handler {
	if dir == "" {
		dir = assets.AdminUIPackage.NodeModulesDir()
	}
	src, err := assets.Open(assets.AdminUIPackage, dir)
	var files http.Handler
	if err != nil {
		logger.Warn("admin UI files not served: not embedded in this build and not found in --admin-ui-dir (build with `make build`, or run `npm ci` and set --admin-ui-dir)",
			"admin_ui_dir", dir, "err", err)
	} else {
		files = adminVendor(src, http.StripPrefix(strings.TrimSuffix(adminPath, "/"), assets.Handler(src)), logger)
		logger.Debug("admin UI files", "version", src.Version, "embedded", src.Embedded, "from", src.From)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if files == nil {
			http.Error(w, fmt.Sprintf("admin UI not available: %v (build with `make build` to embed it, or run `npm ci`)", err), http.StatusNotFound)
			return
		}
		if r.URL.Path == strings.TrimSuffix(adminPath, "/") {
			http.Redirect(w, r, adminPath, http.StatusMovedPermanently) // relative links need the slash
			return
		}
		files.ServeHTTP(w, r)
	})
}

// withAdminUI serves adminPath with ui, everything else with next.
func withAdminUI(next, ui http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == strings.TrimSuffix(adminPath, "/") || strings.HasPrefix(r.URL.Path, adminPath) {
			ui.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
