package wsedge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
)

// clientFiles are the socket.io-client dist files served under the path.
var clientFiles = map[string]bool{
	"socket.io.js": true, "socket.io.js.map": true,
	"socket.io.min.js": true, "socket.io.min.js.map": true,
	"socket.io.esm.min.js": true, "socket.io.esm.min.js.map": true,
	"socket.io.msgpack.min.js": true, "socket.io.msgpack.min.js.map": true,
}

// clientBundle serves socket.io-client's browser bundle from its npm
// package (fetched by the README's set-up, never committed), as socket.io
// does: ETag is the quoted client version, If-None-Match answers 304.
type clientBundle struct {
	dir string

	once    sync.Once
	version string
	err     error
}

func newClientBundle(dir string) *clientBundle { return &clientBundle{dir: dir} }

func (b *clientBundle) serves(name string) bool { return clientFiles[name] }

func (b *clientBundle) load() {
	b.once.Do(func() {
		raw, err := os.ReadFile(filepath.Join(b.dir, "..", "package.json"))
		if err != nil {
			b.err = fmt.Errorf("socket.io-client bundle not found in %s: run `npm ci` in the sockbus directory (or `make run`)", b.dir)
			return
		}
		var pkg struct {
			Version string `json:"version"`
		}
		if err := json.Unmarshal(raw, &pkg); err != nil || pkg.Version == "" {
			b.err = fmt.Errorf("socket.io-client package.json in %s has no version", filepath.Dir(b.dir))
			return
		}
		b.version = pkg.Version
	})
}

// status reports whether the bundle is there, and if not, what to do.
func (b *clientBundle) status() (bool, string) {
	b.load()
	if b.err != nil {
		return false, b.err.Error()
	}
	return true, "socket.io-client " + b.version
}

func (b *clientBundle) serveHTTP(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	b.load()
	if b.err != nil {
		http.Error(w, b.err.Error(), http.StatusNotFound)
		return
	}
	etag := `"` + b.version + `"`
	if inm := r.Header.Get("If-None-Match"); inm == etag || inm == "W/"+etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	f, err := os.Open(filepath.Join(b.dir, name))
	if err != nil {
		http.Error(w, fmt.Sprintf("%s missing from %s: run `npm ci`", name, b.dir), http.StatusNotFound)
		return
	}
	defer f.Close()
	kind := "javascript"
	if filepath.Ext(name) == ".map" {
		kind = "json"
	}
	w.Header().Set("Cache-Control", "public, max-age=0")
	w.Header().Set("Content-Type", "application/"+kind+"; charset=utf-8")
	w.Header().Set("ETag", etag)
	st, _ := f.Stat()
	http.ServeContent(w, r, "", st.ModTime(), f)
}
