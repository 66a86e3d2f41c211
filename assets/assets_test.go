package assets

import (
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h func(http.ResponseWriter, *http.Request), method, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h(w, r)
	return w
}

func TestFilesServeLikeSocketIO(t *testing.T) {
	src := Source{Version: "4.8.4", FS: fstest.MapFS{
		"socket.io.js":     {Data: []byte("/*! Socket.IO v4.8.4 */")},
		"socket.io.js.map": {Data: []byte(`{"version":3}`)},
		"secret.txt":       {Data: []byte("not served")},
		"sub/page.html":    {Data: []byte("<p>")},
	}}
	f := NewFiles(src, func(name string) bool { return name != "secret.txt" })
	serve := func(name string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) { f.ServeFile(w, r, name) }
	}

	w := get(t, serve("socket.io.js"), http.MethodGet, "/socket.io/socket.io.js")
	if w.Code != 200 || w.Body.String() != "/*! Socket.IO v4.8.4 */" {
		t.Fatalf("GET = %d %q", w.Code, w.Body)
	}
	for k, want := range map[string]string{
		"Content-Type":  "application/javascript; charset=utf-8",
		"ETag":          `"4.8.4"`,
		"Cache-Control": "public, max-age=0",
	} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if ct := get(t, serve("socket.io.js.map"), http.MethodGet, "/x").Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("map Content-Type = %q", ct)
	}
	if ct := get(t, serve("sub/page.html"), http.MethodGet, "/x").Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("html Content-Type = %q", ct)
	}
	for _, inm := range []string{`"4.8.4"`, `W/"4.8.4"`} {
		if w := get(t, serve("socket.io.js"), http.MethodGet, "/x", "If-None-Match", inm); w.Code != 304 || w.Body.Len() != 0 {
			t.Errorf("If-None-Match %s = %d, %d bytes", inm, w.Code, w.Body.Len())
		}
	}
	if w := get(t, serve("socket.io.js"), http.MethodGet, "/x", "If-None-Match", `"4.8.3"`); w.Code != 200 {
		t.Errorf("stale If-None-Match = %d", w.Code)
	}
	if w := get(t, serve("socket.io.js"), http.MethodHead, "/x"); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") != "23" {
		t.Errorf("HEAD = %d, %d bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
	if w := get(t, serve("socket.io.js"), http.MethodPost, "/x"); w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST = %d", w.Code)
	}
	for _, name := range []string{"secret.txt", "missing.js", "../socket.io.js", "/socket.io.js", ".", "sub", ""} {
		if f.Serves(name) {
			t.Errorf("Serves(%q)", name)
		}
		if w := get(t, serve(name), http.MethodGet, "/x"); w.Code != 404 {
			t.Errorf("GET %q = %d", name, w.Code)
		}
	}
}

// fakePackage writes an npm package with package.json and dir/file.
func fakePackage(t *testing.T, root, name, version, dir, file, body string) {
	t.Helper()
	pkg := filepath.Join(root, "node_modules", filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Join(pkg, filepath.FromSlash(dir)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkg, "package.json"), []byte(`{"name":"`+name+`","version":"`+version+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkg, filepath.FromSlash(dir), file), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenFallsBackToDir(t *testing.T) {
	if embedded != nil {
		t.Skip("built with -tags " + BuildTag + ": the fallback is for builds without it")
	}
	root := t.TempDir()
	fakePackage(t, root, "socket.io-client", "4.8.4", "dist", "socket.io.js", "bundle")
	fakePackage(t, root, "@socket.io/admin-ui", "0.5.1", "ui/dist", "index.html", "<html>")

	src, err := Open(ClientPackage, filepath.Join(root, ClientPackage.NodeModulesDir()))
	if err != nil || src.Embedded || src.Version != "4.8.4" {
		t.Fatalf("Open = %+v, %v", src, err)
	}
	if b, err := fs.ReadFile(src.FS, "socket.io.js"); err != nil || string(b) != "bundle" {
		t.Fatalf("socket.io.js = %q, %v", b, err)
	}
	// A Dir two levels deep finds package.json two levels up.
	admin := Package{Name: "@socket.io/admin-ui", Dir: "ui/dist"}
	if src, err := Open(admin, filepath.Join(root, admin.NodeModulesDir())); err != nil || src.Version != "0.5.1" {
		t.Fatalf("Open(admin) = %+v, %v", src, err)
	}

	if _, err := Open(ClientPackage, ""); !errors.Is(err, ErrNotEmbedded) {
		t.Fatalf("Open without dir = %v", err)
	}
	if _, err := Open(ClientPackage, filepath.Join(root, "nowhere", "dist")); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("Open of a missing dir = %v, want the dir named", err)
	}
}

func TestClientMissingSaysWhatToDo(t *testing.T) {
	if embedded != nil {
		t.Skip("built with -tags " + BuildTag)
	}
	c := OpenClient(filepath.Join(t.TempDir(), "dist"))
	if _, err := c.Source(); err == nil {
		t.Fatal("no error for a missing bundle")
	}
	if !c.Serves("socket.io.min.js") || c.Serves("index.html") {
		t.Fatal("Serves must not depend on the bundle being there")
	}
	w := get(t, func(w http.ResponseWriter, r *http.Request) { c.ServeFile(w, r, "socket.io.js") }, http.MethodGet, "/socket.io/socket.io.js")
	if w.Code != 404 || !strings.Contains(w.Body.String(), "make build") || !strings.Contains(w.Body.String(), "npm ci") {
		t.Fatalf("GET = %d %q", w.Code, w.Body)
	}
}

func TestClientFromNodeModules(t *testing.T) {
	dir := filepath.Join("..", ClientPackage.NodeModulesDir())
	want, err := os.ReadFile(filepath.Join(dir, "socket.io.min.js"))
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node_modules missing in CI (run npm ci)")
		}
		t.Skip("node_modules missing: run `npm ci` (make test does)")
	}
	c := OpenClient(dir)
	for name := range clientFiles {
		w := get(t, func(w http.ResponseWriter, r *http.Request) { c.ServeFile(w, r, name) }, http.MethodGet, "/socket.io/"+name)
		if w.Code != 200 {
			t.Errorf("%s: %d %q", name, w.Code, w.Body)
		}
		if name == "socket.io.min.js" && w.Body.String() != string(want) {
			t.Errorf("%s: %d bytes, want the %d of node_modules", name, w.Body.Len(), len(want))
		}
	}
}

func TestDemo(t *testing.T) {
	d := NewDemo("/rt/")
	w := get(t, d.ServeHTTP, http.MethodGet, "/")
	body := w.Body.String()
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET / = %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if !strings.Contains(body, `<script src="/rt/socket.io.js">`) || strings.Contains(body, "{{") {
		t.Fatalf("the page does not load the bundle from the Socket.IO path:\n%s", body)
	}
	etag := w.Header().Get("ETag")
	if w := get(t, d.ServeHTTP, http.MethodGet, "/", "If-None-Match", etag); etag == "" || w.Code != 304 {
		t.Fatalf("revalidation with %q = %d", etag, w.Code)
	}
	for path, ct := range map[string]string{"/demo.js": "application/javascript; charset=utf-8", "/demo.css": "text/css; charset=utf-8"} {
		if w := get(t, d.ServeHTTP, http.MethodGet, path); w.Code != 200 || w.Header().Get("Content-Type") != ct || w.Body.Len() == 0 {
			t.Errorf("GET %s = %d %q", path, w.Code, w.Header().Get("Content-Type"))
		}
		if !d.Serves(path) {
			t.Errorf("Serves(%s)", path)
		}
	}
	for _, path := range []string{"/index.html", "/demo", "/other", "/demo/demo.js"} {
		if d.Serves(path) {
			t.Errorf("Serves(%s)", path)
		}
		if w := get(t, d.ServeHTTP, http.MethodGet, path); w.Code != 404 {
			t.Errorf("GET %s = %d", path, w.Code)
		}
	}
	if w := get(t, d.ServeHTTP, http.MethodPost, "/"); w.Code != 405 {
		t.Errorf("POST / = %d", w.Code)
	}
	// A Socket.IO path with characters that mean something in HTML is escaped.
	if body := get(t, NewDemo(`/a"b/`).ServeHTTP, http.MethodGet, "/").Body.String(); !strings.Contains(body, `/a&#34;b/socket.io.js`) {
		t.Errorf("path not escaped")
	}
}

func TestHandlerServesATree(t *testing.T) {
	src := Source{Version: "0.5.1", FS: fstest.MapFS{
		"index.html":    {Data: []byte("<html>ui</html>")},
		"js/app.123.js": {Data: []byte("app()")},
	}}
	h := http.StripPrefix("/admin/", Handler(src)).ServeHTTP
	w := get(t, h, http.MethodGet, "/admin/")
	if w.Code != 200 || w.Body.String() != "<html>ui</html>" || w.Header().Get("ETag") != `"0.5.1"` {
		t.Fatalf("GET /admin/ = %d %q %v", w.Code, w.Body, w.Header())
	}
	w = get(t, h, http.MethodGet, "/admin/js/app.123.js")
	if w.Code != 200 || w.Body.String() != "app()" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET js = %d %q %q", w.Code, w.Body, w.Header().Get("Content-Type"))
	}
	if w := get(t, h, http.MethodGet, "/admin/js/app.123.js", "If-None-Match", `"0.5.1"`); w.Code != 304 {
		t.Fatalf("revalidation = %d", w.Code)
	}
	if w := get(t, h, http.MethodGet, "/admin/missing.js"); w.Code != 404 {
		t.Fatalf("missing = %d", w.Code)
	}
	if w := get(t, h, http.MethodPost, "/admin/"); w.Code != 405 {
		t.Fatalf("POST = %d", w.Code)
	}
}
