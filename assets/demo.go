package assets

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html"
	"net/http"
	"path"
	"time"
)

//go:embed demo
var demoFiles embed.FS

// Demo is the demo page: / and the files it loads. Safe for concurrent use.
type Demo struct {
	files map[string]demoFile // by URL path
}

type demoFile struct {
	body        []byte
	contentType string
	etag        string
}

// NewDemo prepares the page for a Socket.IO server mounted at
// socketIOPath (with its trailing slash), whose client bundle it loads.
func NewDemo(socketIOPath string) *Demo {
	d := &Demo{files: map[string]demoFile{}}
	entries, err := demoFiles.ReadDir("demo")
	if err != nil {
		panic(err) // the embedded directory is there, or the build failed
	}
	for _, e := range entries {
		body, err := demoFiles.ReadFile(path.Join("demo", e.Name()))
		if err != nil {
			panic(err)
		}
		urlPath := "/" + e.Name()
		if e.Name() == "index.html" {
			urlPath = "/"
			body = bytes.ReplaceAll(body, []byte("{{SOCKETIO_PATH}}"), []byte(html.EscapeString(socketIOPath)))
		}
		sum := sha256.Sum256(body)
		d.files[urlPath] = demoFile{
			body:        body,
			contentType: contentType(e.Name()),
			etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
		}
	}
	return d
}

// Serves reports whether urlPath is the page or one of its files.
func (d *Demo) Serves(urlPath string) bool {
	_, ok := d.files[urlPath]
	return ok
}

// ServeHTTP serves the page and its files (ETag from their content,
// revalidated on each load).
func (d *Demo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := d.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
