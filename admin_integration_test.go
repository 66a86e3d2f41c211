package main

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	conf "github.com/sockbus/sockbus/config"
	"github.com/sockbus/sockbus/handlers"
)

// TestAdminUIInChromium runs test/admin: the Socket.IO Admin UI's own files,
// served at /admin/, in headless Chromium against a sockbus started with
// --admin-ui and a login; it logs in, lists the sockets and rooms of two
// official clients and disconnects one of them.
func TestAdminUIInChromium(t *testing.T) {
	node := needNode(t)
	if !fileExists(defaultAdminUIDir + "/index.html") {
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

// The flags' documented defaults are the admin UI's own.
func TestAdminLoginDefaults(t *testing.T) {
	d, h := conf.Default(), handlers.DefaultAdminConfig()
	if int(d.AdminLoginFailuresPerAddress) != h.MaxLoginFailuresPerAddress || int(d.AdminLoginFailures) != h.MaxLoginFailures ||
		d.AdminLoginWindow != h.LoginWindow || int(d.AdminLoginConcurrency) != h.LoginConcurrency ||
		d.AdminLoginWait != h.LoginWait || int(d.AdminLoginFailuresPerConn) != h.MaxLoginFailuresPerConn {
		t.Fatalf("admin login flag defaults %+v differ from handlers' %+v", d, h)
	}
}
