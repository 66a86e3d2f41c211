package app

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockbus/sockbus/assets"
	conf "github.com/sockbus/sockbus/config"
	"github.com/sockbus/sockbus/internal/eventually"
)

// httpGet fetches url and returns status, header and body.
func httpGet(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res.StatusCode, res.Header, body
}

func TestDemoPageFlag(t *testing.T) {
	on := startServer(t)
	code, h, body := httpGet(t, "http://"+on.addr+"/")
	if code != 200 || !bytes.Contains(body, []byte("<title>sockbus demo</title>")) || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %q", code, body)
	}
	if code, _, _ := httpGet(t, "http://"+on.addr+"/demo.js"); code != 200 {
		t.Fatalf("GET /demo.js = %d", code)
	}
	off := startServer(t, func(c *config) { c.Demo = false })
	for _, p := range []string{"/", "/demo.js"} {
		if code, _, _ := httpGet(t, "http://"+off.addr+p); code != 404 {
			t.Fatalf("--demo=false: GET %s = %d, want 404", p, code)
		}
	}
	for _, tc := range []struct {
		args []string
		env  string
		want bool
	}{{nil, "", true}, {[]string{"--demo=false"}, "", false}, {nil, "false", false}, {[]string{"--demo"}, "false", true}} {
		var env []string
		if tc.env != "" {
			env = []string{"SOCKBUS_DEMO=" + tc.env}
		}
		cfg, _, err := conf.Load("sockbus", tc.args, env, io.Discard)
		if err != nil || cfg.Demo != tc.want {
			t.Errorf("args %v env %q: Demo = %v, %v; want %v", tc.args, tc.env, cfg.Demo, err, tc.want)
		}
	}
}

// TestSelfContainedBinary builds sockbus as `make build` does (fill
// assets/dist from node_modules, build with the sockbus_assets tag), runs
// the binary alone in an empty directory and fetches the client bundle and
// the demo page from it; then does the same with a plain `go build`, which
// has to say that it falls back to --client-dir.
func TestSelfContainedBinary(t *testing.T) {
	clientDir := assets.ClientPackage.NodeModulesDir()
	want, err := os.ReadFile(filepath.Join(clientDir, "socket.io.js"))
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node_modules missing in CI (run npm ci)")
		}
		t.Skip("node_modules missing: run `npm ci` (make test does)")
	}
	bin := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	began := time.Now()
	run("go", "run", "./assets/internal/fill")
	run("go", "build", "-tags", assets.BuildTag, "-o", filepath.Join(bin, "sockbus"), ".")
	run("go", "build", "-o", filepath.Join(bin, "sockbus-plain"), ".")
	t.Logf("fill and two builds: %v", time.Since(began).Round(time.Millisecond))

	version := func(exe string) string {
		cmd := exec.Command(exe, "version")
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s version: %v\n%s", exe, err, out)
		}
		return string(out)
	}
	if v := version(filepath.Join(bin, "sockbus")); !regexp.MustCompile(`(?m)^socket\.io-client 4\.\d+\.\d+ \(embedded\)$`).MatchString(v) {
		t.Errorf("sockbus version of the make build binary:\n%s", v)
	}
	if v := version(filepath.Join(bin, "sockbus-plain")); !strings.Contains(v, "socket.io-client not embedded") {
		t.Errorf("sockbus version of the plain build:\n%s", v)
	}
	t.Run("embedded", func(t *testing.T) {
		addr, out := startBinary(t, filepath.Join(bin, "sockbus"))
		code, h, body := httpGet(t, "http://"+addr+"/socket.io/socket.io.js")
		if code != 200 || !bytes.Equal(body, want) {
			t.Fatalf("GET /socket.io/socket.io.js = %d, %d bytes; want 200 and the %d bytes of %s", code, len(body), len(want), clientDir)
		}
		if !regexp.MustCompile(`^"4\.\d+\.\d+"$`).MatchString(h.Get("ETag")) {
			t.Errorf("ETag = %q", h.Get("ETag"))
		}
		for _, name := range []string{"socket.io.min.js", "socket.io.esm.min.js", "socket.io.msgpack.min.js", "socket.io.js.map"} {
			if code, _, _ := httpGet(t, "http://"+addr+"/socket.io/"+name); code != 200 {
				t.Errorf("GET /socket.io/%s = %d", name, code)
			}
		}
		if code, _, body := httpGet(t, "http://"+addr+"/"); code != 200 || !bytes.Contains(body, []byte("sockbus demo")) {
			t.Errorf("GET / = %d", code)
		}
		if strings.Contains(out(), "--client-dir") {
			t.Errorf("the embedded build talks about --client-dir:\n%s", out())
		}
	})
	t.Run("admin UI embedded", func(t *testing.T) {
		addr, out := startBinary(t, filepath.Join(bin, "sockbus"), "--admin-ui")
		index, err := os.ReadFile(filepath.Join(assets.AdminUIPackage.NodeModulesDir(), "index.html"))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range adminVendored { // its CDN links point into the binary
			index = bytes.ReplaceAll(index, []byte(v.cdn), []byte(v.local))
		}
		if code, _, body := httpGet(t, "http://"+addr+"/admin/"); code != 200 || !bytes.Equal(body, index) {
			t.Fatalf("GET /admin/ = %d, %d bytes; want the %d bytes of %s/index.html with local links", code, len(body), len(index), assets.AdminUIPackage.NodeModulesDir())
		}
		for _, f := range []string{"vendor/mdi/css/materialdesignicons.min.css", "vendor/mdi/fonts/materialdesignicons-webfont.woff2", "vendor/roboto/index.css", "vendor/roboto/files/roboto-latin-400.woff2"} {
			if code, _, _ := httpGet(t, "http://"+addr+"/admin/"+f); code != 200 {
				t.Errorf("GET /admin/%s = %d from the embedded build", f, code)
			}
		}
		if code, _, _ := httpGet(t, "http://"+addr+"/admin/vendor/mdi/fonts/materialdesignicons-webfont.ttf"); code != 404 {
			t.Errorf("GET the icons' ttf = %d, want 404 (not embedded)", code)
		}
		if strings.Contains(out(), "admin UI files not served") {
			t.Errorf("the embedded build did not find the admin UI:\n%s", out())
		}
		plain, plainOut := startBinary(t, filepath.Join(bin, "sockbus-plain"), "--admin-ui")
		if code, _, body := httpGet(t, "http://"+plain+"/admin/"); code != 404 || !bytes.Contains(body, []byte("make build")) {
			t.Fatalf("plain build: GET /admin/ = %d %q; want 404 saying make build", code, body)
		}
		if !strings.Contains(plainOut(), "--admin-ui-dir") {
			t.Fatalf("plain build: no log line naming --admin-ui-dir:\n%s", plainOut())
		}
	})
	t.Run("plain build falls back to --client-dir", func(t *testing.T) {
		addr, out := startBinary(t, filepath.Join(bin, "sockbus-plain"))
		code, _, body := httpGet(t, "http://"+addr+"/socket.io/socket.io.js")
		if code != 404 || !bytes.Contains(body, []byte("make build")) {
			t.Fatalf("GET /socket.io/socket.io.js = %d %q; want 404 saying make build", code, body)
		}
		if !strings.Contains(out(), "not embedded in this build") || !strings.Contains(out(), "--client-dir") {
			t.Fatalf("no log line naming --client-dir:\n%s", out())
		}
		// Pointed at node_modules, the plain build serves it and says from where.
		abs, err := filepath.Abs(clientDir)
		if err != nil {
			t.Fatal(err)
		}
		addr, out = startBinary(t, filepath.Join(bin, "sockbus-plain"), "--client-dir", abs)
		if code, _, body := httpGet(t, "http://"+addr+"/socket.io/socket.io.js"); code != 200 || !bytes.Equal(body, want) {
			t.Fatalf("with --client-dir: %d, %d bytes", code, len(body))
		}
		if !strings.Contains(out(), "serving it from --client-dir") {
			t.Fatalf("no log line naming --client-dir:\n%s", out())
		}
	})
}

// listenLine finds the HTTP address in the start-up line (either form).
var listenLine = regexp.MustCompile(`(?:listening on |http=)https?://(127\.0\.0\.1:\d+)`)

// startBinary runs the binary at path in an empty directory on a free
// port and returns its address and a reader of its output so far; the
// process is interrupted and waited for at cleanup.
func startBinary(t *testing.T, path string, args ...string) (string, func() string) {
	t.Helper()
	dir := t.TempDir()
	exe := filepath.Join(dir, "sockbus")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--log-level", "info"}, args...)...)
	cmd.Dir = dir
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("sockbus did not stop on SIGINT:\n%s", out.String())
		}
	})
	var addr string
	eventually.True(t, 30*time.Second, "the start-up line", func() bool {
		if m := listenLine.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
			return true
		}
		return false
	})
	return addr, out.String
}

// TestDemoInChromium drives the demo page in headless Chromium (test/demo)
// against a server with the defaults of `make run` (the relay, recovery on).
func TestDemoInChromium(t *testing.T) {
	node := needNode(t)
	chromium := os.Getenv("CHROMIUM_PATH")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if !fileExists(chromium) {
		if os.Getenv("CI") != "" {
			t.Fatalf("no Chromium at %s in CI", chromium)
		}
		t.Skipf("no Chromium at %s (apt-get install -y chromium)", chromium)
	}
	s := startServer(t)
	cmd := exec.Command(node, "--test", "--test-reporter=spec", "test/demo/")
	cmd.Env = append(os.Environ(), "SOCKBUS_URL=http://"+s.addr, "CHROMIUM_PATH="+chromium)
	out, err := runNodeSuite(t, cmd)
	if err != nil {
		t.Fatalf("demo test failed: %v\n%s", err, out)
	}
	t.Logf("demo test passed:\n%s", lastLines(string(out), 8))
}
