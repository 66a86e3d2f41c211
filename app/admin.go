package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sockbus/sockbus/assets"
	"github.com/sockbus/sockbus/bus"
	conf "github.com/sockbus/sockbus/config"
	"github.com/sockbus/sockbus/handlers"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// adminPath is where the UI's static files are served; its Socket.IO
// namespace is "/admin" (under --socketio-path, so the two never meet).
const adminPath = "/admin/"

// startAdmin serves the admin UI's protocol on io (docs/admin-ui.md); nil
// when --admin-ui is off.
func startAdmin(c conf.Config, io *socketio.Server, b *bus.Bus, counters *metrics.Set, logger *slog.Logger) (*handlers.Admin, error) {
	if !c.AdminUI {
		return nil, nil
	}
	cfg := adminConfig(c)
	cfg.Metrics, cfg.Logger = counters, logger
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
