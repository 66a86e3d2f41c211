package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/natstest"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/wstest"
)

// TestMain runs the tests from the repository's root, where the binary
// builds (go build .), the JavaScript suites (test/...), examples/ and
// node_modules are, as they ran when these tests lived there.
func TestMain(m *testing.M) {
	if err := os.Chdir(".."); err != nil {
		panic(err)
	}
	goleak.VerifyTestMain(m)
}

// testServer is a running sockbus (run) on 127.0.0.1:0 with a temp data dir.
type testServer struct {
	addr    string
	bus     *bus.Bus
	cancel  context.CancelFunc
	done    chan error
	dataDir string
}

func (s *testServer) ws(path string) string { return "ws://" + s.addr + path }

// withNATS gives the node a NATS listener on a loopback port, for tests
// that act on it as a backend would (testServer.backend).
func withNATS(c *config) { c.NATSAddr = "127.0.0.1:0" }

// backend is a NATS connection of the test's own to the node's listener
// (withNATS, or NATSAddr with NATSUser: pass nats.UserInfo), as a backend
// has: the node's own connection never leaves package bus.
func (s *testServer) backend(t *testing.T, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return natstest.Connect(t, s.bus.ClientURL(), opts...)
}

func startServer(t *testing.T, mutate ...func(*config)) *testServer {
	t.Helper()
	cfg := defaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.LogLevel = "warn"
	for _, m := range mutate {
		m(&cfg)
	}
	ready := make(chan *testServer, 1)
	cfg.onListen = func(addr string, b *bus.Bus) {
		ready <- &testServer{addr: addr, bus: b}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg) }()
	var s *testServer
	select {
	case s = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	s.cancel, s.done, s.dataDir = cancel, done, cfg.DataDir
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop shuts the server down (once) and checks run returned cleanly.
func (s *testServer) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("run returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("run did not return after cancel")
	}
}

const wait = 5 * time.Second

func TestHealthz(t *testing.T) {
	s := startServer(t)
	resp, err := http.Get("http://" + s.addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}
}

func TestEcho(t *testing.T) {
	s := startServer(t)
	c := wstest.Dial(t, s.ws("/ws"))
	c.SendText(t, "hello")
	if got := c.NextText(t, wait); got != "hello" {
		t.Fatalf("echo = %q", got)
	}
}

func TestBroadcastToHundredClientsInOrder(t *testing.T) {
	s := startServer(t)
	const clients, msgs = 100, 50
	cs := make([]*wstest.Client, clients)
	for i := range cs {
		cs[i] = wstest.Dial(t, s.ws("/ws/room"))
	}
	for i := 0; i < msgs; i++ {
		cs[0].SendText(t, strconv.Itoa(i))
	}
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for ci, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < msgs; i++ {
				select {
				case m := <-nextMsg(c):
					if string(m.Data) != strconv.Itoa(i) {
						errs <- fmt.Sprintf("client %d: message %d = %q", ci, i, m.Data)
						return
					}
				case <-time.After(10 * time.Second):
					errs <- fmt.Sprintf("client %d: message %d missing", ci, i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// nextMsg adapts Client.Next for use in goroutines (no t.Fatal off the test goroutine).
func nextMsg(c *wstest.Client) <-chan wstest.Msg {
	ch := make(chan wstest.Msg, 1)
	go func() {
		defer func() { recover() }()
		ch <- c.Next(&quietTB{}, 10*time.Second)
	}()
	return ch
}

// quietTB turns Fatal into a panic recovered by nextMsg.
type quietTB struct{ testing.TB }

func (quietTB) Helper()               {}
func (quietTB) Fatalf(string, ...any) { panic("fatal") }

func TestChannelIsolationAndHostileNames(t *testing.T) {
	s := startServer(t)
	// Paths and the channel each one must land on.
	paths := []struct{ path, channel string }{
		{"/ws/a", "a"}, {"/ws/b", "b"},
		{"/ws/*", "*"}, {"/ws/%2A", "*"},
		{"/ws/%3E", ">"}, {"/ws/>", ">"},
		{"/ws/a.b", "a.b"}, {"/ws/a%2Eb", "a.b"},
		{"/ws/a.%3E", "a.>"},
		{"/ws/%2E%2E", ".."},
		{"/ws/a%20b", "a b"},
	}
	clients := make([]*wstest.Client, len(paths))
	for i, p := range paths {
		clients[i] = wstest.Dial(t, s.ws(p.path))
	}
	// Each client sends its own path; every client must receive exactly the
	// messages of the clients on its own channel, and nothing else.
	for i, p := range paths {
		clients[i].SendText(t, p.path)
	}
	for i, p := range paths {
		want := map[string]bool{}
		for _, q := range paths {
			if q.channel == p.channel {
				want[q.path] = true
			}
		}
		got := map[string]bool{}
		for len(got) < len(want) {
			m := clients[i].NextText(t, wait)
			if !want[m] {
				t.Fatalf("client on %s (channel %q) got %q from another channel", p.path, p.channel, m)
			}
			got[m] = true
		}
	}
	// Nothing else is pending: a marker sent now is the next message.
	for i, p := range paths {
		clients[i].SendText(t, "marker "+p.path)
		for {
			m := clients[i].NextText(t, wait)
			if m == "marker "+p.path {
				break
			}
			if !strings.HasPrefix(m, "marker ") {
				t.Fatalf("client on %s got a stray %q", p.path, m)
			}
			// a marker from a same-channel peer is fine
		}
	}
}

func TestBinaryIntact(t *testing.T) {
	s := startServer(t)
	a := wstest.Dial(t, s.ws("/ws/bin"))
	b := wstest.Dial(t, s.ws("/ws/bin"))
	payload := make([]byte, 64<<10)
	rand.Read(payload)
	a.SendBinary(t, payload)
	for _, c := range []*wstest.Client{a, b} {
		m := c.Next(t, wait)
		if !m.Binary || !bytes.Equal(m.Data, payload) {
			t.Fatalf("binary = %v, %d bytes; want binary %d bytes intact", m.Binary, len(m.Data), len(payload))
		}
	}
	a.SendText(t, "text stays text")
	if m := b.Next(t, wait); m.Binary || string(m.Data) != "text stays text" {
		t.Fatalf("text became %+v", m)
	}
}

func TestOversizedFrameAndBadUTF8CloseOnlyThatClient(t *testing.T) {
	s := startServer(t, func(c *config) { c.MaxMessageBytes = 1024 })
	bystander := wstest.Dial(t, s.ws("/ws/x"))
	big := wstest.Dial(t, s.ws("/ws/x"))
	big.SendBinary(t, make([]byte, 2048))
	if code, _ := big.WaitClose(t, wait); code != 1009 {
		t.Fatalf("oversized frame closed with %d, want 1009", code)
	}
	bad := wstest.Dial(t, s.ws("/ws/x"))
	if err := bad.Conn.WriteMessage(1, []byte{0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	if code, _ := bad.WaitClose(t, wait); code != 1007 {
		t.Fatalf("invalid UTF-8 closed with %d, want 1007", code)
	}
	bystander.SendText(t, "still here")
	if got := bystander.NextText(t, wait); got != "still here" {
		t.Fatalf("bystander got %q", got)
	}
}

func TestBackendPublishOverTCPReachesChannel(t *testing.T) {
	s := startServer(t, func(c *config) {
		c.NATSAddr, c.NATSUser, c.NATSPassword = "127.0.0.1:0", "backend", "secret"
	})
	c := wstest.Dial(t, s.ws("/ws/news"))
	nc, err := nats.Connect(s.bus.ClientURL(), nats.UserInfo("backend", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Observe client traffic as a backend would: what the channel delivers.
	seen, err := nc.SubscribeSync("sockbus.live.ws.news")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("sockbus.ws.news", []byte("from backend")); err != nil {
		t.Fatal(err)
	}
	if got := c.NextText(t, wait); got != "from backend" {
		t.Fatalf("client got %q", got)
	}
	c.SendText(t, "from client")
	for {
		m, err := seen.NextMsg(wait)
		if err != nil {
			t.Fatalf("backend did not see client traffic: %v", err)
		}
		if string(m.Data) == "from client" {
			if m.Header.Get(bus.HeaderFrom) == "" {
				t.Fatal("client message carries no sender header")
			}
			break
		}
	}
	if _, err := nats.Connect(s.bus.ClientURL(), nats.MaxReconnects(0)); err == nil {
		t.Fatal("NATS accepted a connection without credentials")
	}
}

const natsCLIMissing = "nats CLI not installed: go install github.com/nats-io/natscli/nats@v0.5.0"

// natsCLI finds the nats CLI; CI installs it (.ci/run), elsewhere the test
// skips with the install command.
func natsCLI(t *testing.T) string {
	t.Helper()
	p := findNATSCLI(t)
	if p == "" {
		t.Skip(natsCLIMissing)
	}
	return p
}

// findNATSCLI is natsCLI for a test that runs without it: "" when missing
// (a failure under CI=true, where the tool must be there).
func findNATSCLI(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nats"); err == nil {
		return p
	}
	gobin := os.Getenv("GOBIN")
	if gobin == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gobin = filepath.Join(strings.TrimSpace(string(out)), "bin")
		}
	}
	if p := filepath.Join(gobin, "nats"); fileExists(p) {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("nats CLI missing in CI (go install github.com/nats-io/natscli/nats@v0.5.0)")
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// lockedBuffer collects a subprocess's output safely.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestNATSCLISeesClientTraffic(t *testing.T) {
	cli := natsCLI(t)
	s := startServer(t, func(c *config) {
		c.NATSAddr, c.NATSUser, c.NATSPassword = "127.0.0.1:0", "ops", "pw"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out lockedBuffer
	cmd := exec.CommandContext(ctx, cli, "--server", s.bus.ClientURL(), "--user", "ops", "--password", "pw", "sub", "sockbus.>")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	eventually.True(t, 15*time.Second, "nats sub to start", func() bool {
		return strings.Contains(out.String(), "Subscribing on")
	})
	c := wstest.Dial(t, s.ws("/ws/lobby"))
	// The CLI's subscription may take a moment to register: resend until seen.
	seen := func() bool { return strings.Contains(out.String(), "hello nats") }
	deadline := time.Now().Add(15 * time.Second)
	for c.SendText(t, "hello nats"); !eventually.Within(500*time.Millisecond, seen); c.SendText(t, "hello nats") {
		if time.Now().After(deadline) {
			t.Fatalf("nats sub never showed the client's message:\n%s", out.String())
		}
	}
	// The stored copy (sockbus.store.<k>.ws.lobby) may print before the
	// delivered one.
	if !eventually.Within(10*time.Second, func() bool { return strings.Contains(out.String(), "sockbus.live.ws.lobby") }) {
		t.Fatalf("nats sub output lacks the channel's live subject:\n%s", out.String())
	}
}

func TestShutdownClosesClientsWith1001(t *testing.T) {
	s := startServer(t)
	io := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	io.ConnectID(t, "/", "")
	cs := []*wstest.Client{wstest.Dial(t, s.ws("/ws")), wstest.Dial(t, s.ws("/ws/other")), io.WS}
	cs[0].SendText(t, "up")
	cs[0].NextText(t, wait)
	s.stop(t)
	for _, c := range cs {
		if code, reason := c.WaitClose(t, wait); code != 1001 {
			t.Fatalf("shutdown close = %d %q, want 1001", code, reason)
		}
	}
	// Nothing of the server is left running (the clients' read loops ended
	// with their connections; goleak retries while goroutines wind down).
	if err := goleak.Find(); err != nil {
		t.Fatal(err)
	}
}

// TestNodeClients runs the JavaScript suite (test/node: the official
// socket.io-client, raw ws and headless Chromium) against the real server.
func TestNodeClients(t *testing.T) {
	node := needNode(t)
	// Recovery off: the suite compares arguments byte for byte, and with
	// recovery every event carries its offset as an extra last argument
	// (socket.io's behaviour). Recovery has its own suite.
	s := startServer(t, func(c *config) {
		c.RecoveryWindow = 0
		c.NATSAddr, c.NATSUser, c.NATSPassword = "127.0.0.1:0", "backend", "pw"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-concurrency=1", "--test-reporter=dot", "test/node/")
	natsURL := strings.Replace(s.bus.ClientURL(), "nats://", "nats://backend:pw@", 1)
	// Without the nats CLI backend.test.js's cases skip (their own
	// message); runNodeSuite makes each skip a skipped subtest.
	cli := findNATSCLI(t)
	cmd.Env = append(os.Environ(), "SOCKBUS_URL=http://"+s.addr, "SOCKBUS_NATS_URL="+natsURL, "NATS_CLI="+cli)
	out, err := runNodeSuite(t, cmd)
	if err != nil {
		t.Fatalf("node tests failed: %v\n%s", err, out)
	}
	t.Logf("node tests passed:\n%s", lastLines(string(out), 12))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestNodeRecovery runs the recovery suite (test/recovery): real sockbus
// processes, killed with -9 and restarted, and the official client.
func TestNodeRecovery(t *testing.T) {
	node := needNode(t)
	bin := filepath.Join(t.TempDir(), "sockbus")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-concurrency=1", "--test-reporter=spec", "test/recovery/")
	cmd.Env = append(os.Environ(), "SOCKBUS_BIN="+bin)
	out, err := runNodeSuite(t, cmd)
	if err != nil {
		t.Fatalf("recovery tests failed: %v\n%s", err, out)
	}
	t.Logf("recovery tests passed:\n%s", lastLines(string(out), 12))
}

func TestChannelHistoryForLateJoiners(t *testing.T) {
	s := startServer(t)
	sender := wstest.Dial(t, s.ws("/ws/hist"))
	for i := 1; i <= 5; i++ {
		sender.SendText(t, strconv.Itoa(i))
		if got := sender.NextText(t, wait); got != strconv.Itoa(i) { // echoed: stored by now
			t.Fatalf("echo %q", got)
		}
	}
	late := wstest.Dial(t, s.ws("/ws/hist?history=3"))
	// The history is read after the upgrade: "live" is sent only once the
	// history arrived, else it may be stored first and be part of the last 3.
	var got []string
	next := func() {
		if m, ok := late.TryNext(wait); ok {
			got = append(got, string(m.Data))
		}
	}
	for range 3 {
		next()
	}
	plain := wstest.Dial(t, s.ws("/ws/hist"))
	sender.SendText(t, "live")
	next()
	if strings.Join(got, " ") != "3 4 5 live" {
		t.Fatalf("late joiner got %q, want 3 4 5 live", got)
	}
	if got := plain.NextText(t, wait); got != "live" {
		t.Fatalf("a client that asked for no history got %q first", got)
	}
	if _, resp, err := wstest.TryDial(s.ws("/ws/hist?history=-1")); err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("history=-1 accepted (%v)", err)
	}
}

// TestRecoveryOnAnotherNode: three sockbus nodes in one NATS cluster; a
// client drops from node A and comes back to node B, which recovers its
// session and replays what it missed, because sessions and history live on
// the bus, not in a process.
func TestRecoveryOnAnotherNode(t *testing.T) {
	servers := startCluster(t, 3)
	a, b := "http://"+servers[0].addr, "http://"+servers[1].addr
	x := siotest.Dial(t, a, "/socket.io/")
	reply := x.Connect(t, "/", "")
	var hello struct{ Sid, Pid string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(reply, "0")), &hello); err != nil || hello.Pid == "" {
		t.Fatalf("CONNECT reply %q has no pid", reply)
	}
	y := siotest.Dial(t, b, "/socket.io/")
	y.ConnectID(t, "/", "")

	// Route interest propagates asynchronously: resend until X hears Y.
	var offset string
	deadline := time.Now().Add(20 * time.Second)
	for offset == "" {
		if time.Now().After(deadline) {
			t.Fatal("node A never delivered node B's event")
		}
		y.Emit(t, "/", "e", "0")
		select {
		case p := <-nextPacket(x):
			var args []any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(p, "2")), &args); err != nil || len(args) != 3 {
				t.Fatalf("event %q: want name, value, offset", p)
			}
			offset, _ = args[2].(string)
		case <-time.After(200 * time.Millisecond):
		}
	}
	x.WS.Close() // transport close: recoverable
	for i := 1; i <= 3; i++ {
		y.Send(t, siotest.Event("/", i, "e", strconv.Itoa(i)))
		for {
			if p := y.NextText(t, wait); strings.HasPrefix(p, "3"+strconv.Itoa(i)) {
				break // acknowledged: stored
			}
		}
	}
	x2 := siotest.Dial(t, b, "/socket.io/")
	x2.Send(t, `0{"pid":"`+hello.Pid+`","offset":"`+offset+`"}`)
	var got []string
	for {
		p := x2.NextText(t, wait)
		if strings.HasPrefix(p, "0") {
			var back struct{ Sid, Pid string }
			if err := json.Unmarshal([]byte(p[1:]), &back); err != nil || back.Sid != hello.Sid || back.Pid != hello.Pid {
				t.Fatalf("CONNECT reply %q: want the same sid %s and pid", p, hello.Sid)
			}
			break
		}
		var args []any
		_ = json.Unmarshal([]byte(strings.TrimPrefix(p, "2")), &args)
		got = append(got, fmt.Sprint(args[1]))
	}
	// Events 0 (one or more resends) may precede the drop; after the offset
	// come exactly 1, 2, 3.
	for len(got) > 0 && got[0] == "0" {
		got = got[1:]
	}
	if strings.Join(got, ",") != "1,2,3" {
		t.Fatalf("replayed on node B: %v, want 1,2,3", got)
	}
}

// nextPacket reads one text packet without failing the test on a timeout.
func nextPacket(c *siotest.Client) <-chan string {
	ch := make(chan string, 1)
	go func() {
		defer func() { recover() }()
		ch <- c.NextText(&quietTB{}, 200*time.Millisecond)
	}()
	return ch
}

// needNode finds node and the npm packages the JavaScript suites use; it
// skips the calling test without them, and fails it in CI.
func needNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil || !fileExists("node_modules/socket.io-client/package.json") {
		if os.Getenv("CI") != "" {
			t.Fatal("node or node_modules missing in CI (run npm ci)")
		}
		t.Skip("node or node_modules missing: run `npm ci` (make test does)")
	}
	return node
}
