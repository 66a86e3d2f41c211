package app

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/auth"
	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/natstest"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/wstest"
)

// TestConnectHookNotSeenBySockbusWatchers: an operator watching
// `sockbus.>` on the embedded server (a real TCP NATS client) sees no
// connect-hook request, so no client's token, auth payload or Cookie; the
// responder on the default subject still gets them all.
func TestConnectHookNotSeenBySockbusWatchers(t *testing.T) {
	const secret = "tok-0f9e8d7c6b5a"
	s := startServer(t, func(c *config) {
		c.NATSAddr, c.NATSUser, c.NATSPassword = "127.0.0.1:0", "ops", "pw"
		c.AuthHook = true
		c.AuthHookTimeout = 5 * time.Second
		c.AuthHookHeaders = []string{"Origin", "Cookie"}
	})
	watcher, err := nats.Connect(s.bus.ClientURL(), nats.UserInfo("ops", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	watched, err := watcher.SubscribeSync("sockbus.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}
	asked := make(chan string, 8)
	responder, err := s.backend(t, nats.UserInfo("ops", "pw")).Subscribe(auth.HookSubject, func(m *nats.Msg) {
		asked <- string(m.Data)
		_ = m.Respond([]byte(`{"allow":true,"user":"u"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer responder.Unsubscribe()
	eventually.True(t, 10*time.Second, "the responder's interest", func() bool { return s.bus.HasInterest(auth.HookSubject) })

	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	c.ConnectID(t, "/chat", `{"token":"`+secret+`"}`)
	ws := wstest.Dial(t, s.ws("/ws/lobby?token="+secret))
	ws.Close()
	for range 2 {
		select {
		case req := <-asked:
			if !strings.Contains(req, secret) {
				t.Fatalf("hook request without the token: %s", req)
			}
		case <-time.After(wait):
			t.Fatal("the responder was not asked")
		}
	}
	// The hook's requests and this marker come from the same connection
	// (the node's), so the watcher has seen every request before it sees
	// the marker.
	if err := s.bus.PublishLive(&bus.Msg{Subject: "sockbus.marker", Data: []byte("end")}); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := watched.NextMsg(wait)
		if err != nil {
			t.Fatalf("the marker never reached the watcher: %v", err)
		}
		if strings.Contains(string(m.Data), secret) || strings.Contains(m.Subject, "auth") {
			t.Fatalf("a sockbus.> watcher saw a hook request on %s: %s", m.Subject, m.Data)
		}
		if m.Subject == "sockbus.marker" {
			return
		}
	}
}

// TestConnectHookPermissions runs docs/security.md's NATS authorization block on an
// external nats-server: an edge asks a responder that may only subscribe
// to the hook subject and answer, and a backend user cannot subscribe to
// the hook's requests.
func TestConnectHookPermissions(t *testing.T) {
	doc, err := os.ReadFile("docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	block := string(doc)
	start := strings.Index(block, "```\nauthorization {")
	if start < 0 {
		t.Fatal("docs/security.md has no authorization block")
	}
	block = block[start+4:]
	block = block[:strings.Index(block, "```")]
	conf := "SOCKBUS_PW: sock-pw\nHOOK_PW: hook-pw\nBACKEND_PW: backend-pw\n" + block
	path := filepath.Join(t.TempDir(), "users.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	parsed, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("docs/security.md's block: %v", err)
	}
	ns := natstest.Start(t, "", func(o *server.Options) { o.Users = parsed.Users })
	dir := filepath.Join(t.TempDir(), "never-created")
	s := startServer(t, func(c *config) {
		c.NATSURL, c.NATSUser, c.NATSPassword, c.DataDir = ns.ClientURL(), "sockbus", "sock-pw", dir
		c.AuthHook = true
		c.AuthHookTimeout = 5 * time.Second
	})

	hook, err := nats.Connect(ns.ClientURL(), nats.UserInfo("authhook", "hook-pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer hook.Close()
	if _, err := hook.QueueSubscribe(auth.HookSubject, "hooks", func(m *nats.Msg) {
		_ = m.Respond([]byte(`{"allow":true,"user":"hooked"}`))
	}); err != nil {
		t.Fatal(err)
	}
	if err := hook.Flush(); err != nil {
		t.Fatal(err)
	}
	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	c.ConnectID(t, "/chat", `{"token":"x"}`) // fails unless the responder's answer arrived

	denied := make(chan error, 4)
	backend, err := nats.Connect(ns.ClientURL(), nats.UserInfo("backend", "backend-pw"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { denied <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	if _, err := backend.SubscribeSync("_SOCKBUS.>"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-denied:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("backend's _SOCKBUS.> subscription: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("a backend user may subscribe to the hook's requests")
	}
}

// TestHookSubjectInsideSockbusWarned: an operator who sets the old subject
// back is told that sockbus watchers read the tokens.
func TestHookSubjectInsideSockbusWarned(t *testing.T) {
	const warning = "--auth-hook-subject is inside sockbus.>"
	for subject, warned := range map[string]bool{"sockbus.auth.connect": true, auth.HookSubject: false, "hooks.connect": false} {
		var logs lockedBuffer
		s := startServer(t, func(c *config) { c.AuthHook, c.AuthHookSubject, c.logOut = true, subject, &logs })
		s.stop(t)
		if got := strings.Contains(logs.String(), warning); got != warned {
			t.Errorf("%s: warned %v, want %v:\n%s", subject, got, warned, logs.String())
		}
	}
}
