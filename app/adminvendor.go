package app

import (
	"bytes"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sockbus/sockbus/assets"
)

// The admin UI's index.html loads its icons and font from CDNs, so offline
// they are blank. sockbus serves the same files from the binary (or
// node_modules) under adminVendorPath and points index.html there.
const adminVendorPath = adminPath + "vendor/"

// adminVendored are the CDN URLs of the pinned UI's index.html and what
// replaces each (relative to /admin/), with the packages behind them.
var adminVendored = []struct {
	cdn, local string
	serve      map[string]assets.Package // path under adminVendorPath → package
}{
	{"https://cdn.jsdelivr.net/npm/@mdi/font@latest/css/materialdesignicons.min.css", "vendor/mdi/css/materialdesignicons.min.css",
		map[string]assets.Package{"mdi/css/": assets.AdminIconsCSS, "mdi/fonts/": assets.AdminIconsFonts}},
	{"https://fonts.googleapis.com/css?family=Roboto:100,300,400,500,700,900", "vendor/roboto/index.css",
		map[string]assets.Package{"roboto/": assets.AdminFontPackage}},
}

// adminVendor wraps the UI's files: index.html with local links, and the
// vendored packages under adminVendorPath. When a package or a CDN link is
// missing, that link stays as it was (a warning says so).
func adminVendor(ui assets.Source, files http.Handler, logger *slog.Logger) http.Handler {
	index, err := fs.ReadFile(ui.FS, "index.html")
	if err != nil {
		return files
	}
	mux := http.NewServeMux()
	for _, v := range adminVendored {
		handlers := map[string]http.Handler{}
		for prefix, p := range v.serve {
			src, err := assets.Open(p, p.NodeModulesDir())
			if err != nil {
				logger.Warn("admin UI: icons or font served from a CDN (not embedded, not in node_modules; run `npm ci`)", "package", p.Name, "err", err)
				handlers = nil
				break
			}
			handlers[prefix] = http.StripPrefix(strings.TrimSuffix(adminVendorPath+prefix, "/"), assets.Handler(src))
		}
		if handlers == nil {
			continue
		}
		if !bytes.Contains(index, []byte(v.cdn)) {
			logger.Warn("admin UI: index.html does not load this CDN URL any more; serving it unchanged", "url", v.cdn)
			continue
		}
		index = bytes.ReplaceAll(index, []byte(v.cdn), []byte(v.local))
		for prefix, h := range handlers {
			mux.Handle(adminVendorPath+prefix, h)
		}
	}
	mux.HandleFunc(adminPath+"{$}", serveIndex(index))
	mux.HandleFunc(adminPath+"index.html", serveIndex(index))
	mux.Handle("/", files)
	return mux
}

func serveIndex(index []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(index)
	}
}
