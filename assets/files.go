package assets

import (
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Files serves the files of one package the way socket.io serves its
// client bundle: GET and HEAD only, ETag the quoted package version
// (If-None-Match answers 304 without a body), Cache-Control "public,
// max-age=0" (revalidate each time; cheap because of the ETag). Safe for
// concurrent use.
type Files struct {
	src   Source
	allow func(name string) bool
	etag  string
}

// NewFiles serves src; allow, when set, limits the names served (a name is
// a slash-separated path inside the package's Dir, without a leading
// slash).
func NewFiles(src Source, allow func(name string) bool) *Files {
	return &Files{src: src, allow: allow, etag: `"` + src.Version + `"`}
}

// Serves reports whether name is one of the files served.
func (f *Files) Serves(name string) bool {
	if !fs.ValidPath(name) || name == "." {
		return false
	}
	if f.allow != nil && !f.allow(name) {
		return false
	}
	st, err := fs.Stat(f.src.FS, name)
	return err == nil && st.Mode().IsRegular()
}

// ServeFile answers r with the file name; names that Serves refuses are
// 404.
func (f *Files) ServeFile(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !f.Serves(name) {
		http.NotFound(w, r)
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm == f.etag || inm == "W/"+f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	file, err := f.src.FS.Open(name)
	if err != nil {
		http.Error(w, "failed to open "+name, http.StatusInternalServerError)
		return
	}
	defer file.Close()
	var modTime time.Time
	if st, err := file.Stat(); err == nil {
		modTime = st.ModTime() // zero when embedded: no Last-Modified
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=0")
	h.Set("Content-Type", contentType(name))
	h.Set("ETag", f.etag)
	if rs, ok := file.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", modTime, rs)
		return
	}
	if r.Method == http.MethodGet {
		io.Copy(w, file) // every fs in use (embed, os) seeks; kept for others
	}
}

// contentType is socket.io's for its bundles (JavaScript, and JSON for
// source maps), else the standard one for the extension.
func contentType(name string) string {
	switch ext := path.Ext(name); ext {
	case ".js", ".mjs":
		return "application/javascript; charset=utf-8"
	case ".map":
		return "application/json; charset=utf-8"
	default:
		if t := mime.TypeByExtension(ext); t != "" {
			if strings.HasPrefix(t, "text/") && !strings.Contains(t, "charset") {
				t += "; charset=utf-8"
			}
			return t
		}
		return "application/octet-stream"
	}
}

// Handler serves all of src as a file tree (a directory's index.html for
// the directory, as http.FileServer) with Files' caching headers: the ETag
// is the package version, so an unchanged package answers 304. Mount it
// under a prefix with http.StripPrefix. GET and HEAD only.
func Handler(src Source) http.Handler {
	etag := `"` + src.Version + `"`
	files := http.FileServerFS(src.FS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// http.ServeContent answers If-None-Match from the ETag set here.
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "public, max-age=0")
		files.ServeHTTP(w, r)
	})
}
