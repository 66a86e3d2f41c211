package app

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sockbus/sockbus/assets"
)

// TestAdminUIInChromium runs test/admin: the Socket.IO Admin UI's own files,
// served at /admin/, in headless Chromium against a sockbus started with
// --admin-ui and a login; it logs in, lists the sockets and rooms of two
// official clients and disconnects one of them.
func TestAdminUIInChromium(t *testing.T) {
	node := needNode(t)
	if !fileExists(assets.AdminUIPackage.NodeModulesDir() + "/index.html") {
		if os.Getenv("CI") != "" {
			t.Fatal("the admin UI is missing from node_modules in CI (run npm ci)")
		}
		t.Skip("the admin UI is missing from node_modules: run `npm ci` (make test does)")
	}
	const password = "admin-ui-test-password"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *config) {
		c.AdminUI, c.AdminUser, c.AdminPasswordHash = true, "admin", string(hash)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-concurrency=1", "--test-reporter=spec", "test/admin/")
	cmd.Env = append(os.Environ(), "SOCKBUS_URL=http://"+s.addr, "ADMIN_USER=admin", "ADMIN_PASSWORD="+password)
	out, err := runNodeSuite(t, cmd)
	if err != nil {
		t.Fatalf("admin UI tests failed: %v\n%s", err, out)
	}
	t.Logf("admin UI tests passed:\n%s", lastLines(string(out), 10))
}

// The admin UI's icons and font come from sockbus, not a CDN: index.html
// links to /admin/vendor/, and every file those stylesheets name is served.
func TestAdminUIIconsAndFontsServedLocally(t *testing.T) {
	for _, p := range []assets.Package{assets.AdminUIPackage, assets.AdminIconsCSS, assets.AdminIconsFonts, assets.AdminFontPackage} {
		if !assets.Embedded(p) && !fileExists(p.NodeModulesDir()) {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing from node_modules in CI (run npm ci)", p.Name)
			}
			t.Skipf("%s is missing from node_modules: run `npm ci` (make test does)", p.Name)
		}
	}
	s := startServer(t, func(c *config) { c.AdminUI = true })
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get("http://" + s.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Fatalf("GET %s: %d, %d bytes", path, resp.StatusCode, len(body))
		}
		return string(body)
	}
	index := get("/admin/")
	if strings.Contains(index, "cdn.jsdelivr.net") || strings.Contains(index, "fonts.googleapis.com") || !strings.Contains(index, `href="vendor/mdi/css/`) {
		t.Fatalf("index.html still loads from a CDN: %s", index)
	}
	if get("/admin/index.html") != index {
		t.Fatal("/admin/index.html differs from /admin/")
	}
	fonts := 0
	for _, css := range []string{"/admin/vendor/mdi/css/materialdesignicons.min.css", "/admin/vendor/roboto/index.css"} {
		body := get(css)
		dir := css[:strings.LastIndex(css, "/")+1]
		for _, m := range regexp.MustCompile(`url\(['"]?([^'")?#]+\.woff2)`).FindAllStringSubmatch(body, -1) {
			get(path.Clean(dir + m[1]))
			fonts++
		}
	}
	if fonts < 7 { // the icons, and Roboto's six weights at least
		t.Fatalf("%d woff2 fonts named by the stylesheets, want 7 or more", fonts)
	}
}
