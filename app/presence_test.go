package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/wstest"
	"github.com/sockbus/sockbus/presence"
)

// askPresence sends sockbus:presence for room (JSON) and returns its ack,
// skipping other packets (joined/left events) it collects into events.
func askPresence(t *testing.T, c *siotest.Client, id int, room string, events *[]string) string {
	t.Helper()
	c.Send(t, siotest.Event("/", id, "sockbus:presence", room))
	ack := fmt.Sprintf("3%d[", id)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p := c.NextText(t, 10*time.Second)
		if strings.HasPrefix(p, ack) {
			return strings.TrimSuffix(strings.TrimPrefix(p, ack), "]")
		}
		if events != nil && strings.HasPrefix(p, "2[\"sockbus:") {
			*events = append(*events, p)
		}
	}
	t.Fatalf("no ack %d", id)
	return ""
}

func memberIDs(t *testing.T, raw string) (int, []string) {
	t.Helper()
	var a presence.Answer
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatalf("presence answer %s: %v", raw, err)
	}
	var ids []string
	for _, m := range a.Members {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return a.Count, ids
}

// TestPresenceAcrossNodes: three nodes, one socket on each, all in room
// "lobby": every node answers the same members for the room and for the
// namespace, and to a backend's sockbus.ctl.presence request; a member that disconnects is gone from every node's answer
// and the others get sockbus:left; names past 255 bytes and rooms the
// socket is not in (and may not join) are refused.
func TestPresenceAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3, func(c *config) {
		withNATS(c)
		c.PresenceTTL, c.PresenceEvents = 2*time.Second, true
		c.ClientRooms = []string{"lobby", "open-*"} // not "elsewhere"
	})
	var clients []*siotest.Client
	var ids []string
	for _, n := range nodes {
		c := siotest.Dial(t, "http://"+n.addr, "/socket.io/")
		ids = append(ids, c.ConnectID(t, "/", ""))
		clients = append(clients, c)
	}
	backend := nodes[0].backend(t)
	join := func(who ...string) {
		t.Helper()
		m := nats.NewMsg("sockbus.io.~.ctl.join")
		m.Data = []byte(`["lobby"]`)
		list, err := bus.EncodeTokenList(who)
		if err != nil {
			t.Fatal(err)
		}
		m.Header.Set(bus.HeaderRooms, list)
		if err := backend.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	// Node 0's socket joins first: it is told of joins that come after its
	// own (each node announces its sockets' joins as it makes them, so a join
	// made at the same moment on another node may come before it is in).
	ackID := 0
	events := make([][]string, len(clients))
	join(ids[0])
	eventually.True(t, 10*time.Second, "node 0's socket in lobby", func() bool {
		ackID++
		n, _ := memberIDs(t, askPresence(t, clients[0], ackID, `"lobby"`, &events[0]))
		return n == 1
	})
	join(ids[1], ids[2])
	want := slices.Clone(ids)
	slices.Sort(want)
	for i, c := range clients {
		for _, room := range []string{`"lobby"`, `null`} {
			eventually.True(t, 10*time.Second, fmt.Sprintf("node %d sees 3 members of %s", i, room), func() bool {
				ackID++
				n, got := memberIDs(t, askPresence(t, c, ackID, room, &events[i]))
				return n == 3 && slices.Equal(got, want)
			})
		}
	}

	// Node 0's socket was told of the others joining lobby (not of itself).
	for _, id := range ids {
		want := fmt.Sprintf(`"sockbus:joined",{"room":"lobby","id":%q`, id)
		eventually.True(t, 10*time.Second, "node 0's socket told of "+id+" joining", func() bool {
			for _, e := range events[0] {
				if strings.Contains(e, want) {
					return true
				}
			}
			ackID++
			askPresence(t, clients[0], ackID, `null`, &events[0])
			return id == ids[0] // its own join is never announced to it
		})
	}
	for _, e := range events[0] {
		if strings.Contains(e, fmt.Sprintf(`"sockbus:joined",{"room":"lobby","id":%q`, ids[0])) {
			t.Fatalf("node 0's socket was told of its own join: %s", e)
		}
	}

	// A backend asks over NATS: the same answer.
	reply, err := backend.Request("sockbus.ctl.presence.io.~", []byte(`"lobby"`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if n, got := memberIDs(t, string(reply.Data)); n != 3 || !slices.Equal(got, want) {
		t.Fatalf("backend's presence of lobby: %d %v, want %v", n, got, want)
	}

	// Refusals: a name past the limit, a room it is not in.
	ackID++
	if got := askPresence(t, clients[0], ackID, `"`+strings.Repeat("r", 300)+`"`, nil); !strings.Contains(got, `"error":"bad room name"`) {
		t.Fatalf("300-byte room: %s", got)
	}
	ackID++
	if got := askPresence(t, clients[0], ackID, `"elsewhere"`, nil); !strings.Contains(got, `"error":"not a member of the room"`) {
		t.Fatalf("room it is not in (nor may join): %s", got)
	}
	ackID++ // a room it may join: it may look before joining
	if n, got := memberIDs(t, askPresence(t, clients[0], ackID, `"open-1"`, nil)); n != 0 || len(got) != 0 {
		t.Fatalf("open-1: %d %v", n, got)
	}

	// The socket on node 2 leaves: gone everywhere, and the others are told.
	clients[2].WS.Close()
	leftWant := fmt.Sprintf(`"sockbus:left",{"room":"lobby","id":%q`, ids[2])
	for i, c := range clients[:2] {
		eventually.True(t, 10*time.Second, fmt.Sprintf("node %d: the member left", i), func() bool {
			ackID++
			n, got := memberIDs(t, askPresence(t, c, ackID, `"lobby"`, &events[i]))
			return n == 2 && !slices.Contains(got, ids[2])
		})
		eventually.True(t, 10*time.Second, fmt.Sprintf("node %d's socket got sockbus:left", i), func() bool {
			for _, e := range events[i] {
				if strings.Contains(e, leftWant) {
					return true
				}
			}
			t.Logf("events so far %q", events[i])
			ackID++
			askPresence(t, c, ackID, `null`, &events[i]) // reads on
			return false
		})
	}
}

// TestPresenceQueryFloodHitsEventBudget: presence queries cost events of
// the connection's budget: past it they get "rate limit exceeded", and the
// refused ones never read the bucket.
func TestPresenceQueryFloodHitsEventBudget(t *testing.T) {
	s := startServer(t, func(c *config) { c.MaxEventsPerSecond, c.MaxEventBurst = 5, 5 })
	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	c.ConnectID(t, "/", "")
	const n = 40
	for i := range n {
		c.Send(t, siotest.Event("/", i, "sockbus:presence", "null"))
	}
	answered, limited := 0, 0
	for answered+limited < n {
		p := c.NextText(t, 10*time.Second)
		switch {
		case strings.Contains(p, `"error":"rate limit exceeded"`):
			limited++
		case strings.Contains(p, `"count":1`):
			answered++
		default:
			t.Fatalf("unexpected packet %q", p)
		}
	}
	if answered > 10 || limited < n-10 {
		t.Fatalf("%d answered, %d limited: want at most the burst (5, plus what refilled) answered", answered, limited)
	}
}

// TestChannelPresenceOverNATS: a plain WebSocket channel's connections,
// counted by a backend's sockbus.ctl.presence.ws.<channel> request; a
// connection that closes is gone from it.
func TestChannelPresenceOverNATS(t *testing.T) {
	s := startServer(t, withNATS)
	backend := s.backend(t)
	a := wstest.Dial(t, s.ws("/ws/lobby"))
	wstest.Dial(t, s.ws("/ws/lobby"))
	wstest.Dial(t, s.ws("/ws/other"))
	ask := func() int {
		reply, err := backend.Request("sockbus.ctl.presence.ws.lobby", nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		n, ids := memberIDs(t, string(reply.Data))
		if len(ids) != n {
			t.Fatalf("lobby: count %d, ids %v", n, ids)
		}
		return n
	}
	eventually.True(t, 5*time.Second, "two connections in lobby", func() bool { return ask() == 2 })
	a.Close()
	eventually.True(t, 5*time.Second, "one left in lobby", func() bool { return ask() == 1 })
}

// TestPresenceNodeKilled: three sockbus processes, a socket on each in
// room "lobby"; one node is killed with SIGKILL. Within --presence-ttl
// (2 s) plus the detection margin (an eighth of it, and the load's), its
// socket is gone from the answers of the two others and their sockets get
// sockbus:left for it, exactly once; a socket that joins a room right
// after the kill is present on every node.
func TestPresenceNodeKilled(t *testing.T) {
	bin := buildSockbus(t)
	const ttl = 2 * time.Second
	nodes := startProcCluster(t, bin, "--presence-ttl", ttl.String(), "--presence-events")
	var clients []*siotest.Client
	var ids []string
	for _, n := range nodes {
		c := siotest.Dial(t, "http://"+n.httpAddr(), "/socket.io/")
		ids = append(ids, c.ConnectID(t, "/", ""))
		clients = append(clients, c)
	}
	ackID := 0
	events := make([][]string, len(clients))
	join := func(i int, room string) {
		ackID++
		clients[i].Send(t, siotest.Event("/", ackID, "sockbus:join", `"`+room+`"`))
		for {
			p := clients[i].NextText(t, 10*time.Second)
			if strings.HasPrefix(p, fmt.Sprintf("3%d[", ackID)) {
				if !strings.Contains(p, `"ok":true`) {
					t.Fatalf("node %d join: %s", i, p)
				}
				return
			}
			if strings.HasPrefix(p, "2[\"sockbus:") {
				events[i] = append(events[i], p)
			}
		}
	}
	for i := range clients {
		join(i, "lobby")
	}
	for i, c := range clients {
		eventually.True(t, 10*time.Second, fmt.Sprintf("node %d sees 3 in lobby", i), func() bool {
			ackID++
			n, _ := memberIDs(t, askPresence(t, c, ackID, `"lobby"`, &events[i]))
			return n == 3
		})
	}
	const k = 0 // any node: its death shows only as the silence of its beats
	alive := []int{(k + 1) % 3, (k + 2) % 3}
	t.Cleanup(func() {
		if t.Failed() {
			for _, i := range alive {
				for _, l := range strings.Split(nodes[i].out.String(), "\n") {
					if strings.Contains(l, "presence") {
						t.Log(nodes[i].name, l)
					}
				}
			}
		}
	})
	nodes[k].kill()
	killed := time.Now()
	join(alive[0], "late") // while the killed node is still taken for alive

	leftWant := fmt.Sprintf(`"sockbus:left",{"room":"lobby","id":%q`, ids[k])
	gone, left := map[int]time.Duration{}, map[int]time.Duration{}
	var last [3]string
	done := eventually.Within(30*time.Second, func() bool {
		for _, i := range alive {
			ackID++
			raw := askPresence(t, clients[i], ackID, `"lobby"`, &events[i])
			last[i] = raw
			n, got := memberIDs(t, raw)
			if _, ok := gone[i]; !ok && n == 2 && !slices.Contains(got, ids[k]) {
				gone[i] = time.Since(killed)
			}
			if _, ok := left[i]; !ok && slices.ContainsFunc(events[i], func(e string) bool { return strings.Contains(e, leftWant) }) {
				left[i] = time.Since(killed)
			}
		}
		return len(gone) == 2 && len(left) == 2
	})
	if !done {
		t.Fatalf("30 s after the kill: gone %v, left %v; last answers %q; events %q", gone, left, last, events)
	}
	t.Logf("%s was killed; its member gone from the answers after %v, sockbus:left after %v (--presence-ttl %v)",
		nodes[k].name, gone, left, ttl)
	const bound = ttl + ttl/8 + 1500*time.Millisecond // the TTL, a sweep tick, and this machine's load
	for _, i := range alive {
		if gone[i] > bound || left[i] > bound {
			t.Errorf("%s: gone after %v, left after %v: want both within %v", nodes[i].name, gone[i], left[i], bound)
		}
	}

	// The join made right after the kill is present everywhere.
	joinedID := ids[alive[0]]
	eventually.True(t, 30*time.Second, "the socket that joined after the kill present in late", func() bool {
		ackID++
		n, got := memberIDs(t, askPresence(t, clients[alive[1]], ackID, `"late"`, &events[alive[1]]))
		return n == 1 && got[0] == joinedID
	})
	t.Logf("the join made after the kill present after %v", time.Since(killed).Round(10*time.Millisecond))
	for _, i := range alive {
		n := 0
		for _, e := range events[i] {
			if strings.Contains(e, leftWant) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s's socket got %d sockbus:left for the killed node's socket, want 1: %q", nodes[i].name, n, events[i])
		}
	}
}

// TestPresenceNodeSuite: test/presence with the official socket.io-client
// through a round-robin balancer over three nodes: the same members from
// every socket, joined/left events, refusals.
func TestPresenceNodeSuite(t *testing.T) {
	node := needNode(t)
	servers := startCluster(t, 3, func(c *config) { c.PresenceEvents = true })
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.addr)
	}
	_, lb := newRoundRobin(t, addrs)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-concurrency=1", "--test-reporter=spec", "test/presence/")
	cmd.Env = append(os.Environ(), "SOCKBUS_URL="+lb)
	out, err := runNodeSuite(t, cmd)
	if err != nil {
		t.Fatalf("node presence tests failed: %v\n%s", err, out)
	}
	t.Logf("node presence tests passed:\n%s", lastLines(string(out), 8))
}
