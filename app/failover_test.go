package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/loopback"
	"github.com/sockbus/sockbus/internal/wstest"
)

// The tests here run sockbus nodes as child processes, so that a crash is
// a real one: SIGKILL, no step-down, no goodbye on the routes.

const (
	failNsp    = "/durable"
	failStream = "SOCKBUS_OWN_IO_durable" // --own-namespaces /durable
	natsUser   = "t"
	natsPass   = "pw"
)

// buildSockbus builds this package's binary once per test.
func buildSockbus(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sockbus")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// procNode is one sockbus child process of a three-node cluster.
type procNode struct {
	name   string
	bin    string
	args   []string
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan error

	mu      sync.Mutex
	addr    string // HTTP, from its start-up line
	natsURL string
}

// httpAddr is where the node serves now (a restart binds a new port).
func (n *procNode) httpAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addr
}

var listeningLine = regexp.MustCompile(`"sockbus started" http=http://(\S+) .* nats=(\S+)`)

// startProcNodes starts three sockbus processes of the cluster name at
// once (a cluster needs a quorum), each with the flags every cluster node
// needs and then flags, and waits until all are up.
func startProcNodes(t *testing.T, bin, name string, flags ...string) []*procNode {
	t.Helper()
	routes := loopback.FreeAddrs(t, 3)
	var urls []string
	for _, r := range routes {
		urls = append(urls, "nats-route://"+r)
	}
	nodes := make([]*procNode, 3)
	for i := range nodes {
		nodes[i] = &procNode{name: fmt.Sprintf("node-%d", i), bin: bin, args: append([]string{
			"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "info", // the start-up line
			"--cluster-name", name, "--cluster-addr", routes[i], "--routes", strings.Join(urls, ","),
			"--node-name", fmt.Sprintf("node-%d", i), "--replicas", "3",
		}, flags...)}
		nodes[i].start(t)
		t.Cleanup(func() { nodes[i].kill() })
	}
	for _, n := range nodes {
		n.waitUp(t)
	}
	return nodes
}

// startProcCluster starts the failover tests' cluster: nodes that own
// failNsp, with a NATS listener for backends and no event rate limit,
// each with the flags of extra besides.
func startProcCluster(t *testing.T, bin string, extra ...string) []*procNode {
	t.Helper()
	return startProcNodes(t, bin, "failover", append([]string{
		"--own-namespaces", failNsp,
		"--nats-addr", "127.0.0.1:0", "--nats-user", natsUser, "--nats-password", natsPass,
		"--max-events-per-second", "0",
	}, extra...)...)
}

func (n *procNode) start(t *testing.T) {
	t.Helper()
	n.out = &lockedBuffer{}
	n.cmd = exec.Command(n.bin, n.args...)
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, exited chan error) { exited <- cmd.Wait() }(n.cmd, n.exited)
}

// waitUp waits for the start-up line and for /readyz 200.
func (n *procNode) waitUp(t *testing.T) {
	t.Helper()
	eventually.True(t, 90*time.Second, n.name+" listening", func() bool {
		m := listeningLine.FindStringSubmatch(n.out.String())
		if m != nil {
			n.mu.Lock()
			n.addr, n.natsURL = m[1], m[2]
			n.mu.Unlock()
		}
		return m != nil
	})
	eventually.True(t, 60*time.Second, n.name+" ready", func() bool {
		code, _ := status(t, "http://"+n.httpAddr()+"/readyz")
		return code == 200
	})
}

// kill is a crash: SIGKILL. A no-op once the process is gone.
func (n *procNode) kill() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.exited
	n.cmd = nil
}

// terminate is a rolling restart's stop: SIGTERM, then the exit status.
func (n *procNode) terminate(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-n.exited:
		n.cmd = nil
		if err != nil {
			t.Fatalf("%s exited with %v after SIGTERM:\n%s", n.name, err, n.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still running 30 s after SIGTERM", n.name)
	}
}

// sioPeer is a minimal Socket.IO client on one namespace over WebSocket
// whose pump never fails the test from its goroutine: the test asserts on
// what it recorded.
type sioPeer struct {
	ws       *wstest.Client
	connects chan string
	onEvent  func(v int64, offset string)
	onAck    func(id int64, errReason string)
	done     chan struct{}
	mu       sync.Mutex // serializes writes
}

func dialPeer(addr string, onEvent func(int64, string), onAck func(int64, string)) (*sioPeer, error) {
	ws, _, err := wstest.TryDial("ws://" + addr + "/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		return nil, err
	}
	open, ok := ws.TryNext(5 * time.Second)
	if !ok || !strings.HasPrefix(string(open.Data), "0{") {
		ws.Close()
		return nil, fmt.Errorf("no open packet from %s: %q", addr, open.Data)
	}
	p := &sioPeer{ws: ws, connects: make(chan string, 1), onEvent: onEvent, onAck: onAck, done: make(chan struct{})}
	go p.pump()
	return p, nil
}

func (p *sioPeer) pump() {
	defer close(p.done)
	closing := false
	for {
		if !closing {
			select {
			case <-p.ws.Closed():
				closing = true // drain what arrived before the close
			default:
			}
		}
		m, ok := p.ws.TryNext(50 * time.Millisecond)
		if !ok {
			if closing {
				return
			}
			continue
		}
		s := string(m.Data)
		switch {
		case s == "2":
			p.send("3")
		case strings.HasPrefix(s, "40"+failNsp+","), strings.HasPrefix(s, "44"+failNsp+","):
			p.connects <- s[1:]
		case strings.HasPrefix(s, "42"+failNsp+","):
			var args []json.RawMessage
			if json.Unmarshal([]byte(s[len("42"+failNsp+","):]), &args) == nil && len(args) == 3 {
				v, _ := strconv.ParseInt(string(args[1]), 10, 64)
				var off string
				_ = json.Unmarshal(args[2], &off)
				if p.onEvent != nil {
					p.onEvent(v, off)
				}
			}
		case strings.HasPrefix(s, "43"+failNsp+","):
			body := s[len("43"+failNsp+","):]
			i := strings.IndexByte(body, '[')
			id, err := strconv.ParseInt(body[:max(i, 0)], 10, 64)
			if i < 0 || err != nil || p.onAck == nil {
				continue
			}
			var args []struct {
				Error string `json:"error"`
			}
			reason := ""
			if json.Unmarshal([]byte(body[i:]), &args) == nil && len(args) > 0 {
				reason = args[0].Error
			}
			p.onAck(id, reason)
		}
	}
}

func (p *sioPeer) send(s string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ws.Conn.WriteString("4" + s)
}

// connect joins failNsp and returns the CONNECT reply's sid and pid.
func (p *sioPeer) connect(auth string) (sid, pid string, err error) {
	if err := p.send("0" + failNsp + "," + auth); err != nil {
		return "", "", err
	}
	select {
	case r := <-p.connects:
		var body struct{ Sid, Pid string }
		if !strings.HasPrefix(r, "0") || json.Unmarshal([]byte(r[len("0"+failNsp+","):]), &body) != nil {
			return "", "", fmt.Errorf("CONNECT refused: %s", r)
		}
		return body.Sid, body.Pid, nil
	case <-time.After(5 * time.Second):
		return "", "", fmt.Errorf("no CONNECT reply")
	case <-p.done:
		return "", "", fmt.Errorf("closed before the CONNECT reply")
	}
}

func (p *sioPeer) emit(id, v int64) error {
	return p.send(fmt.Sprintf(`2%s,%d["seq",%d]`, failNsp, id, v))
}

func (p *sioPeer) close() {
	p.ws.Close()
	<-p.done
}

// ackLog records, per event value, when it was sent and how it was acked.
type ackLog struct {
	mu     sync.Mutex
	sentAt map[int64]time.Time
	ok     map[int64]time.Duration // acked stored: latency
	failed map[int64]string        // error ack: reason
	dup    int                     // acks for an event acked already
}

func newAckLog() *ackLog {
	return &ackLog{sentAt: map[int64]time.Time{}, ok: map[int64]time.Duration{}, failed: map[int64]string{}}
}

func (l *ackLog) sent(v int64) {
	l.mu.Lock()
	l.sentAt[v] = time.Now()
	l.mu.Unlock()
}

func (l *ackLog) acked(v int64, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, seen := l.ok[v]; seen {
		l.dup++
		return
	}
	if _, seen := l.failed[v]; seen {
		l.dup++
		return
	}
	if reason != "" {
		l.failed[v] = reason
		return
	}
	l.ok[v] = time.Since(l.sentAt[v])
}

func (l *ackLog) answered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ok) + len(l.failed)
}

// storedValues reads the namespace's stream: every stored "seq" value, in
// stream order (direct gets: any replica answers).
func storedValues(t *testing.T, nodes []*procNode) []int64 {
	t.Helper()
	var urls []string
	for _, n := range nodes {
		if n.cmd != nil {
			urls = append(urls, n.natsURL)
		}
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserInfo(natsUser, natsPass))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, failStream)
	if err != nil {
		t.Fatal(err)
	}
	last := s.CachedInfo().State.LastSeq
	var vals []int64
	for seq := uint64(1); seq <= last; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		if !strings.HasSuffix(m.Subject, ".seq") {
			continue
		}
		var args []int64
		if err := json.Unmarshal(m.Data, &args); err != nil || len(args) != 1 {
			t.Fatalf("seq %d: unexpected payload %q", seq, m.Data)
		}
		vals = append(vals, args[0])
	}
	return vals
}

// streamLeader asks the cluster which node leads the namespace's stream.
func streamLeader(t *testing.T, nodes []*procNode) string {
	t.Helper()
	return leaderOf(t, nodes, failStream)
}

// leaderOf asks the cluster which node leads stream.
func leaderOf(t *testing.T, nodes []*procNode, stream string) string {
	t.Helper()
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.natsURL)
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserInfo(natsUser, natsPass))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var leader string
	eventually.True(t, 30*time.Second, "the stream to have a leader", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil || s.CachedInfo().Cluster == nil {
			return false
		}
		leader = s.CachedInfo().Cluster.Leader
		return leader != ""
	})
	return leader
}

// pace emits with acks every interval from peer until stop is closed.
// It returns the values it sent.
func pace(p *sioPeer, log *ackLog, next func() int64, interval time.Duration, stop <-chan struct{}) []int64 {
	t := time.NewTicker(interval)
	defer t.Stop()
	var sent []int64
	for {
		select {
		case <-stop:
			return sent
		case <-p.done:
			return sent
		case <-t.C:
			v := next()
			log.sent(v)
			sent = append(sent, v)
			if p.emit(v, v) != nil {
				return sent
			}
		}
	}
}

// unanswered counts the values of vs without an ack yet.
func (l *ackLog) unanswered(vs []int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, v := range vs {
		_, ok := l.ok[v]
		_, failed := l.failed[v]
		if !ok && !failed {
			n++
		}
	}
	return n
}

// TestLeaderCrashLosesNothing: the node leading the namespace's stream is
// SIGKILLed while a client on another node emits with acks. Every event is
// answered: stored and acked, or an error ack; none acked is missing from
// the stream, none is stored twice. A client of the killed node recovers on
// another node within 5 s (same pid and sid: socket.io-client's recovered
// === true) and ends up with every stored event, once, in stream order.
func TestLeaderCrashLosesNothing(t *testing.T) {
	bin := buildSockbus(t)
	nodes := startProcCluster(t, bin)
	leader := streamLeader(t, nodes)
	k := -1
	for i, n := range nodes {
		if n.name == leader {
			k = i
		}
	}
	if k < 0 {
		t.Fatalf("leader %q is none of the nodes", leader)
	}
	victim, sendNode, other := nodes[k], nodes[(k+1)%3], nodes[(k+2)%3]
	t.Logf("%s leads %s: killing it", leader, failStream)

	var mu sync.Mutex
	var got []int64 // what the recovering client received, in order
	var lastOffset string
	onEvent := func(v int64, off string) {
		mu.Lock()
		got, lastOffset = append(got, v), off
		mu.Unlock()
	}
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}
	rec, err := dialPeer(victim.addr, onEvent, nil)
	if err != nil {
		t.Fatal(err)
	}
	sid, pid, err := rec.connect("{}")
	if err != nil || pid == "" {
		t.Fatalf("connect on the victim: %v (pid %q)", err, pid)
	}
	// A control client on a node that stays up: what it receives live must
	// be in the sender's order too.
	var cmu sync.Mutex
	var control []int64
	ctl, err := dialPeer(other.addr, func(v int64, _ string) { cmu.Lock(); control = append(control, v); cmu.Unlock() }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.close()
	if _, _, err := ctl.connect("{}"); err != nil {
		t.Fatal(err)
	}
	log := newAckLog()
	sender, err := dialPeer(sendNode.addr, nil, func(id int64, reason string) { log.acked(id, reason) })
	if err != nil {
		t.Fatal(err)
	}
	defer sender.close()
	if _, _, err := sender.connect("{}"); err != nil {
		t.Fatal(err)
	}
	var n int64
	next := func() int64 { n++; return n }
	stop := make(chan struct{})
	paced := make(chan struct{})
	go func() { defer close(paced); pace(sender, log, next, 20*time.Millisecond, stop) }()
	eventually.True(t, 20*time.Second, "the client on the victim to receive events", func() bool { return received() >= 20 })

	killedAt := time.Now()
	victim.kill()
	select {
	case <-rec.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the victim's client did not notice the crash")
	}
	mu.Lock()
	auth := fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, lastOffset)
	mu.Unlock()
	back, err := dialPeer(other.addr, onEvent, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer back.close()
	sid2, pid2, err := back.connect(auth)
	recoveredIn := time.Since(killedAt)
	if err != nil {
		t.Fatalf("reconnect on %s: %v", other.name, err)
	}
	if sid2 != sid || pid2 != pid {
		t.Fatalf("not recovered: sid %q pid %q, want %q %q", sid2, pid2, sid, pid)
	}
	if recoveredIn > 5*time.Second {
		t.Fatalf("recovered %v after the crash, want within 5 s", recoveredIn)
	}
	t.Logf("recovered on %s %v after the crash", other.name, recoveredIn.Round(time.Millisecond))

	// Keep sending through the election (4-9 s), then wait for every answer.
	select {
	case <-paced:
		t.Fatal("sender's connection closed")
	case <-time.After(12 * time.Second):
	}
	close(stop)
	<-paced
	sentN := n
	eventually.True(t, 30*time.Second, "every event answered (ack or error ack)", func() bool {
		return log.answered() == int(sentN)
	})

	stored := storedValues(t, nodes)
	seen := map[int64]bool{}
	for _, v := range stored {
		if seen[v] {
			t.Errorf("event %d stored twice", v)
		}
		seen[v] = true
	}
	log.mu.Lock()
	var maxLatency time.Duration
	for v, lat := range log.ok {
		if !seen[v] {
			t.Errorf("event %d acked but not stored", v)
		}
		maxLatency = max(maxLatency, lat)
	}
	nOK, nFailed, dup := len(log.ok), len(log.failed), log.dup
	log.mu.Unlock()
	if dup > 0 {
		t.Errorf("%d events acked twice", dup)
	}
	if nFailed > 0 { // the store timeout (15 s) covers an election (4-9 s)
		t.Errorf("%d events refused (error acks) during the election, want every one stored", nFailed)
	}
	t.Logf("sent %d: %d acked and stored (slowest ack %v), %d error acks, %d stored in all",
		sentN, nOK, maxLatency.Round(time.Millisecond), nFailed, len(stored))

	// One sender: its events are stored in the order it sent them (socket.io
	// promises a socket's events arrive in order), resends included.
	if bad := outOfOrder(stored); len(bad) > 0 {
		t.Errorf("%d of %d events stored out of the sender's order: %v", len(bad), len(stored), bad)
	}

	// The recovered client ends up with the whole stream, once, in order;
	// the control client received the same, live.
	if !eventually.Within(10*time.Second, func() bool { return received() >= len(stored) }) {
		t.Errorf("recovered client has %d events, the stream %d", received(), len(stored))
	}
	controlled := func() int { cmu.Lock(); defer cmu.Unlock(); return len(control) }
	if !eventually.Within(10*time.Second, func() bool { return controlled() >= len(stored) }) {
		t.Errorf("control client has %d events, the stream %d", controlled(), len(stored))
	}
	cmu.Lock()
	if bad := outOfOrder(control); len(bad) > 0 {
		t.Errorf("control client received %d events out of the sender's order: %v", len(bad), bad)
	}
	cmu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	if bad := outOfOrder(got); len(bad) > 0 {
		t.Errorf("recovered client received %d events out of the sender's order: %v", len(bad), bad)
	}
	if fmt.Sprint(got) != fmt.Sprint(stored) {
		t.Fatalf("recovered client's events differ from the stream:\n got %v\nwant %v", got, stored)
	}
}

// outOfOrder lists the values of vs (one sender's increasing values) that
// come after a larger one.
func outOfOrder(vs []int64) []int64 {
	var bad []int64
	var top int64
	for _, v := range vs {
		if v < top {
			bad = append(bad, v)
		}
		top = max(top, v)
	}
	return bad
}

// TestRollingRestartLosesNothing: each of three nodes in turn gets SIGTERM
// and is started again, while a client emits with acks through every node
// (moving to another node when its own stops). Nothing acked is missing,
// nothing is stored twice, no event gets an error ack, and writes stall
// well under a second per restart: a stopping node hands its stream
// leaderships off before it goes.
func TestRollingRestartLosesNothing(t *testing.T) {
	bin := buildSockbus(t)
	nodes := startProcCluster(t, bin)
	t.Logf("%s leads %s", streamLeader(t, nodes), failStream)
	log := newAckLog()
	onAck := func(id int64, reason string) { log.acked(id, reason) }
	var nmu sync.Mutex
	var n int64
	next := func() int64 { nmu.Lock(); defer nmu.Unlock(); n++; return n }

	// One sender per node; when its node stops, it moves to the next one.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var moveErr sync.Map
	var lost atomic.Int64 // sent on a connection its node closed, never answered
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := i
			for {
				p, err := dialPeer(nodes[at].httpAddr(), nil, onAck)
				if err == nil {
					if _, _, err = p.connect("{}"); err == nil {
						vs := pace(p, log, next, 20*time.Millisecond, stop)
						// Stopped by the test, not by its node: every
						// event must get its answer before we hang up.
						for deadline := time.Now().Add(30 * time.Second); log.unanswered(vs) > 0 && time.Now().Before(deadline); {
							select {
							case <-p.done: // closed by its node after all
								deadline = time.Time{}
							case <-time.After(10 * time.Millisecond): // polling the ack log
							}
						}
						lost.Add(int64(log.unanswered(vs)))
					}
					p.close()
				}
				if err != nil {
					moveErr.Store(i, err)
				}
				select {
				case <-stop:
					return
				default:
				}
				at = (at + 1) % len(nodes)
			}
		}()
	}
	sentBy := func() int64 { nmu.Lock(); defer nmu.Unlock(); return n }
	eventually.True(t, 20*time.Second, "events flowing", func() bool { return log.answered() > 50 })

	type window struct {
		node     string
		from, to time.Time
	}
	var windows []window
	for i, node := range nodes {
		from := time.Now()
		node.terminate(t)
		stopped := time.Since(from)
		if stopped > 2*time.Second {
			t.Logf("%s's slow stop:\n%s", node.name, node.out.String())
		}
		node.start(t)
		up := time.Now()
		node.waitUp(t)
		t.Logf("restart %d (%s): stopped in %v, up again in %v", i, node.name,
			stopped.Round(time.Millisecond), time.Since(up).Round(time.Millisecond))
		windows = append(windows, window{node.name, from, time.Now()})
		before := log.answered()
		eventually.True(t, 20*time.Second, "events flowing after the restart", func() bool { return log.answered() > before+50 })
	}
	close(stop)
	wg.Wait()
	sent := sentBy()
	if got := log.answered(); int64(got)+lost.Load() != sent {
		t.Errorf("%d sent, %d answered, %d in flight on a connection its node closed: %d unaccounted",
			sent, got, lost.Load(), sent-int64(got)-lost.Load())
	}
	if lost.Load() > 30 { // three closes, each with what was in flight
		t.Errorf("%d events in flight on closed connections, want a few per restart", lost.Load())
	}

	stored := storedValues(t, nodes)
	seen := map[int64]bool{}
	for _, v := range stored {
		if seen[v] {
			t.Errorf("event %d stored twice", v)
		}
		seen[v] = true
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for v := range log.ok {
		if !seen[v] {
			t.Errorf("event %d acked but not stored", v)
		}
	}
	if len(log.failed) > 0 {
		t.Errorf("%d error acks during rolling restarts: %v", len(log.failed), log.failed)
	}
	// The stall a restart causes: the slowest ack of an event sent in its window.
	for _, w := range windows {
		var worst time.Duration
		for v, lat := range log.ok {
			if at := log.sentAt[v]; !at.Before(w.from) && at.Before(w.to) {
				worst = max(worst, lat)
			}
		}
		t.Logf("restart of %s: slowest ack %v", w.node, worst.Round(time.Millisecond))
		if worst >= time.Second {
			t.Errorf("restart of %s stalled writes %v, want well under a second", w.node, worst)
		}
	}
	t.Logf("sent %d, %d acked and stored, %d unanswered (in flight on a connection its node closed), %d stored",
		sent, len(log.ok), lost.Load(), len(stored))
	moveErr.Range(func(k, v any) bool { t.Logf("sender %v: %v", k, v); return true })
}
