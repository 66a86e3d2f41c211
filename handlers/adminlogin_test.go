package handlers

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"golang.org/x/crypto/bcrypt"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/internal/wstest"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// loginServer serves the relay and a logged-in admin UI whose hash has
// loginCost. Dialing
// url+"/from/<ip>" makes the server see the client at <ip>, so one test
// can be several client addresses.
func loginServer(t *testing.T, cfg AdminConfig) (url string, counts *metrics.Set) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(adminPassword), loginCost)
	if err != nil {
		t.Fatal(err)
	}
	b := testutil.StartBus(t, bus.Config{})
	srv := socketio.NewServer(b, socketio.Config{})
	Relay(srv, nil)
	counts = new(metrics.Set)
	cfg.User, cfg.PasswordHash, cfg.Metrics = "admin", string(hash), counts
	a, err := NewAdmin(srv, b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	from := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/from/"); ok {
			ip, path, _ := strings.Cut(rest, "/")
			r.RemoteAddr, r.URL.Path = ip+":1234", "/"+path
		}
		srv.ServeHTTP(w, r)
	})
	return "http://" + testutil.Serve(t, from, srv.Close), counts
}

// loginCost makes a comparison cost a few milliseconds under -race (an
// operator's hash costs more: 10, bcrypt's default, ~60 ms without -race).
const loginCost = 6

func logins(s *metrics.Set, r metrics.AdminLogin) uint64 { return s.Snapshot().AdminLogins[r] }

// compared is how many bcrypt comparisons ran.
func compared(s *metrics.Set) uint64 {
	return logins(s, metrics.AdminLoginOK) + logins(s, metrics.AdminLoginFailed)
}

func wrongGuess(i int) string {
	return fmt.Sprintf(`0/admin,{"username":"admin","password":"guess-%d"}`, i)
}

const rightLogin = `{"username":"admin","password":"` + adminPassword + `"}`

// One WebSocket sending 100 guesses gets at most 3 compared, then is
// closed; the right password still works from another address.
func TestAdminLoginFloodOnOneConnection(t *testing.T) {
	url, counts := loginServer(t, AdminConfig{})
	c := siotest.Dial(t, url, "/socket.io/")
	for i := range 100 {
		c.Send(t, wrongGuess(i))
	}
	select {
	case <-c.WS.Closed():
	case <-time.After(20 * time.Second):
		t.Fatalf("connection still open after 100 wrong guesses (%d compared)", compared(counts))
	}
	if n := compared(counts); n > 3 {
		t.Fatalf("%d bcrypt comparisons for one connection's 100 guesses, want at most 3", n)
	}
	if got := tryLogin(url, "/from/10.0.0.2/socket.io/", rightLogin); !strings.HasPrefix(got, "0/admin,") {
		t.Fatalf("the right password from another address got %q", got)
	}
	if n := logins(counts, metrics.AdminLoginOK); n != 1 {
		t.Fatalf("%d successful logins counted, want 1", n)
	}
}

// 60 connections from one address with one wrong guess each: at most 5
// are compared, the rest refused without bcrypt and closed, and a
// bystander's echo stays fast meanwhile.
func TestAdminLoginFloodOnManyConnections(t *testing.T) {
	url, counts := loginServer(t, AdminConfig{LoginWait: time.Minute}) // every refusal is the address's limit, none busy
	sender, receiver := siotest.Dial(t, url, "/socket.io/"), siotest.Dial(t, url, "/socket.io/")
	sender.ConnectID(t, "/chat", "")
	receiver.ConnectID(t, "/chat", "")

	const conns = 60
	var wg sync.WaitGroup
	replies := make([]string, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = tryLogin(url, "/socket.io/", wrongGuess(i)[len("0/admin,"):])
		}()
	}
	var rtts []time.Duration
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	pace := time.NewTicker(20 * time.Millisecond) // under the connection's event rate
	defer pace.Stop()
	for seq := 0; ; seq++ {
		<-pace.C
		start := time.Now()
		sender.Emit(t, "/chat", "echo", fmt.Sprint(seq))
		if got := receiver.NextText(t, wait); got != fmt.Sprintf(`2/chat,["echo",%d]`, seq) {
			t.Fatalf("bystander got %q", got)
		}
		rtts = append(rtts, time.Since(start))
		select {
		case <-done:
		default:
			continue
		}
		break
	}
	if n := compared(counts); n > 5 {
		t.Fatalf("%d bcrypt comparisons for %d wrong guesses from one address, want at most 5", n, conns)
	}
	if limited := logins(counts, metrics.AdminLoginLimited); limited < conns-5 {
		t.Fatalf("%d logins refused uncompared, want at least %d", limited, conns-5)
	}
	for _, r := range replies {
		if !strings.HasPrefix(r, "4/admin,") && r != "closed" {
			t.Fatalf("a wrong guess got %q, want a connect_error", r)
		}
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	if worst := rtts[len(rtts)-1]; worst > 2*time.Second {
		t.Fatalf("bystander's echo took up to %v during the flood (%d round trips)", worst, len(rtts))
	}
	t.Logf("%d guesses: %d compared; bystander echo %d round trips, worst %v", conns, compared(counts), len(rtts), rtts[len(rtts)-1])
}

// tryLogin opens a WebSocket Engine.IO connection at url+path and joins
// /admin with auth: the CONNECT reply, "closed" if the connection closed
// without one, or the error.
func tryLogin(url, path, auth string) string {
	c, _, err := wstest.TryDial(strings.Replace(url, "http://", "ws://", 1) + path + "?EIO=4&transport=websocket")
	if err != nil {
		return err.Error()
	}
	defer c.Conn.NetConn().Close()
	if err := c.Conn.WriteMessage(gws.OpcodeText, []byte("40/admin,"+auth)); err != nil {
		return err.Error()
	}
	// A bound for a reply, not a pace: 60 of these dial at once, and under
	// -race on a loaded 2-core machine 5 s was not always enough.
	deadline := time.Now().Add(4 * wait)
	for time.Now().Before(deadline) {
		m, ok := c.TryNext(50 * time.Millisecond)
		if !ok {
			select {
			case <-c.Closed():
				if m, ok := c.TryNext(0); !ok || m.Binary { // one last look: the reply may precede the close
					return "closed"
				} else if text := string(m.Data); strings.HasPrefix(text, "40/admin,") || strings.HasPrefix(text, "44/admin,") {
					return text[1:]
				}
			default:
			}
			continue
		}
		if text := string(m.Data); strings.HasPrefix(text, "40/admin,") || strings.HasPrefix(text, "44/admin,") {
			return text[1:]
		}
	}
	return "no reply"
}

// An address past its failures is refused even the right password, until
// the window ends.
func TestAdminLoginWindowEnds(t *testing.T) {
	url, counts := loginServer(t, AdminConfig{MaxLoginFailuresPerAddress: 2, LoginWindow: 3 * time.Second})
	for i := range 2 {
		if got := tryLogin(url, "/socket.io/", wrongGuess(i)[len("0/admin,"):]); !strings.Contains(got, "invalid credentials") {
			t.Fatalf("wrong guess %d: %q", i, got)
		}
	}
	got := tryLogin(url, "/socket.io/", rightLogin)
	if !strings.Contains(got, "too many failed logins") {
		t.Fatalf("the right password from an address past its failures got %q, want a refusal", got)
	}
	if n := compared(counts); n != 2 {
		t.Fatalf("%d comparisons, want 2 (the refusal must not run bcrypt)", n)
	}
	eventually.True(t, 10*time.Second, "the right password works after the window", func() bool {
		return strings.HasPrefix(tryLogin(url, "/socket.io/", rightLogin), "0/admin,")
	})
}

// One comparison at a time: a second login waiting longer than LoginWait
// is refused as busy.
func TestAdminLoginGuardConcurrency(t *testing.T) {
	g := newLoginGuard(AdminConfig{LoginWait: 20 * time.Millisecond}.withDefaults())
	if !g.acquire() {
		t.Fatal("first slot refused")
	}
	if g.acquire() {
		t.Fatal("a second comparison slot was given with LoginConcurrency 1")
	}
	g.release()
	if !g.acquire() {
		t.Fatal("slot not given back")
	}
	g.release()
}
