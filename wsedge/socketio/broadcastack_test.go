package socketio

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/loopback"
	"github.com/sockbus/sockbus/internal/natstest"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/testutil"
)

var ackEvent = regexp.MustCompile(`^2(\d+)\["q",1\]$`)

// answer reads the broadcast on c, checks it carries an ack id, and
// acknowledges it with reply.
func answer(t *testing.T, c *siotest.Client, reply string) {
	t.Helper()
	p := c.NextText(t, wait)
	m := ackEvent.FindStringSubmatch(p)
	if m == nil {
		t.Fatalf("broadcast with ack = %q", p)
	}
	c.Send(t, "3"+m[1]+reply)
}

func socketIDs(rs []AckResponse) string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.SocketID+"="+string(r.Args))
	}
	sort.Strings(ids)
	return strings.Join(ids, " ")
}

func want(ids ...string) string {
	ids = append([]string(nil), ids...) // callers' slices keep their order
	sort.Strings(ids)
	return strings.Join(ids, " ")
}

func TestBroadcastEmitWithAck(t *testing.T) {
	srv, _, url := startIO(t, Config{})
	ns := srv.Of("/")
	srv.Of("/").OnConnection(func(s *Socket) {
		if s.Handshake().Auth != nil && strings.Contains(string(s.Handshake().Auth), "room") {
			_ = s.Join("r")
		}
	})
	var clients []*siotest.Client
	var ids []string
	for i := range 3 {
		c := siotest.Dial(t, url, "/socket.io/")
		auth := ""
		if i == 2 {
			auth = `{"room":true}`
		}
		ids = append(ids, c.ConnectID(t, "/", auth))
		clients = append(clients, c)
	}

	type result struct {
		rs  []AckResponse
		err error
	}
	emit := func(op func(ctx context.Context) ([]AckResponse, error), d time.Duration) chan result {
		done := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			rs, err := op(ctx)
			done <- result{rs, err}
		}()
		return done
	}

	// Everyone answers: all three responses, each from its own socket.
	done := emit(func(ctx context.Context) ([]AckResponse, error) { return ns.EmitWithAck(ctx, "q", 1) }, wait)
	for i, c := range clients {
		answer(t, c, fmt.Sprintf(`[%d]`, i))
	}
	r := <-done
	if r.err != nil || socketIDs(r.rs) != want(ids[0]+"=[0]", ids[1]+"=[1]", ids[2]+"=[2]") {
		t.Fatalf("all answered: %v %q", r.err, socketIDs(r.rs))
	}

	// A room narrows it to its members.
	done = emit(func(ctx context.Context) ([]AckResponse, error) { return ns.To("r").EmitWithAck(ctx, "q", 1) }, wait)
	answer(t, clients[2], `["in r"]`)
	if r := <-done; r.err != nil || socketIDs(r.rs) != want(ids[2]+`=["in r"]`) {
		t.Fatalf("room: %v %q", r.err, socketIDs(r.rs))
	}

	// One stays silent: the deadline ends the wait with what arrived.
	done = emit(func(ctx context.Context) ([]AckResponse, error) { return ns.EmitWithAck(ctx, "q", 1) }, 500*time.Millisecond)
	answer(t, clients[0], `["a"]`)
	answer(t, clients[1], `["b"]`)
	clients[2].NextText(t, wait) // got it, never answers
	r = <-done
	if !errors.Is(r.err, ErrAckTimeout) || socketIDs(r.rs) != want(ids[0]+`=["a"]`, ids[1]+`=["b"]`) {
		t.Fatalf("timeout: %v %q", r.err, socketIDs(r.rs))
	}

	if _, err := ns.EmitWithAck(context.Background(), "q", 1); err == nil {
		t.Fatal("EmitWithAck without a deadline accepted")
	}
}

func TestBroadcastEmitWithAckNobodyThere(t *testing.T) {
	srv, _, _ := startIO(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	start := time.Now()
	rs, err := srv.Of("/empty").EmitWithAck(ctx, "q", 1)
	if err != nil || len(rs) != 0 || time.Since(start) > wait/2 {
		t.Fatalf("no sockets anywhere: %v %v after %v, want an empty answer at once", rs, err, time.Since(start))
	}
}

// Three nodes in one NATS cluster: sockets on the first two, the emit from
// the third, which has none. Every node's sockets answer, and the emit
// returns as soon as they all did, not at its deadline. Then the third
// node lists the sockets and makes one of them join a room.
func TestBroadcastEmitWithAckAcrossNodes(t *testing.T) {
	routes := loopback.FreeAddrs(t, 3)
	buses := make([]*bus.Bus, 3)
	var wg sync.WaitGroup
	for i := range buses {
		var others []string
		for j, r := range routes {
			if j != i {
				others = append(others, "nats-route://"+r)
			}
		}
		wg.Add(1)
		go func() { // a JetStream cluster needs its quorum: start together
			defer wg.Done()
			buses[i] = testutil.StartBus(t, bus.Config{Cluster: bus.ClusterConfig{
				Name: "acks", Listen: routes[i], Routes: others, NodeName: fmt.Sprintf("n%d", i)}})
		}()
	}
	wg.Wait()
	for _, b := range buses {
		if b == nil {
			t.FailNow()
		}
	}
	emitWithAckAcrossNodes(t, buses)
}

// Three stateless edges on one external nats-server: the same as across
// the nodes of a cluster, with the nodes counted by asking them
// (bus.Interest on an external NATS) instead of by the server's interest.
func TestBroadcastEmitWithAckAcrossEdges(t *testing.T) {
	url := natstest.Start(t, "").ClientURL()
	buses := make([]*bus.Bus, 3)
	for i := range buses {
		buses[i] = testutil.StartBus(t, bus.Config{External: bus.ExternalConfig{
			URL: url, User: natstest.User, Password: natstest.Password}})
	}
	emitWithAckAcrossNodes(t, buses)
	srv := NewServer(buses[0], Config{})
	defer srv.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	start := time.Now()
	rs, err := srv.Of("/empty").EmitWithAck(ctx, "q", 1)
	if err != nil || len(rs) != 0 || time.Since(start) > wait/2 {
		t.Fatalf("no sockets on any edge: %v %v after %v, want an empty answer at once", rs, err, time.Since(start))
	}
}

// emitWithAckAcrossNodes puts sockets on the first two nodes' servers and
// emits with acks, fetches and joins from the third.
func emitWithAckAcrossNodes(t *testing.T, buses []*bus.Bus) {
	t.Helper()
	var srvs []*Server
	var urls []string
	for _, b := range buses {
		s := NewServer(b, Config{})
		srvs = append(srvs, s)
		urls = append(urls, "http://"+testutil.Serve(t, s, s.Close))
	}
	var clients []*siotest.Client
	var ids []string
	for i := range 2 {
		c := siotest.Dial(t, urls[i], "/socket.io/")
		ids = append(ids, c.ConnectID(t, "/", ""))
		clients = append(clients, c)
	}
	presence := bus.PresenceSubject(srvs[2].Of("/").tok)
	eventually.True(t, 10*time.Second, "node 2 sees both nodes' presence", func() bool {
		return buses[2].Interest(presence) == 2
	})
	done := make(chan error, 1)
	var rs []AckResponse
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var err error
		rs, err = srvs[2].Of("/").EmitWithAck(ctx, "q", 1)
		done <- err
	}()
	for i, c := range clients {
		answer(t, c, fmt.Sprintf(`["from node %d"]`, i))
	}
	if err := <-done; err != nil || socketIDs(rs) != want(ids[0]+`=["from node 0"]`, ids[1]+`=["from node 1"]`) {
		t.Fatalf("across nodes: %v %q", err, socketIDs(rs))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v: waited for the deadline instead of the answers", d)
	}

	// Socket operations from the node without sockets reach the others.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ns := srvs[2].Of("/")
	list, err := ns.FetchSockets(ctx)
	got := []string{}
	for _, r := range list {
		got = append(got, r.ID)
	}
	if err != nil || want(got...) != want(ids...) {
		t.Fatalf("fetch across nodes: %v %v, want %v", err, got, ids)
	}
	if err := ns.To(ids[1]).SocketsJoin("x"); err != nil {
		t.Fatal(err)
	}
	if err := ns.To("x").Emit("only-x", 1); err != nil {
		t.Fatal(err)
	}
	if err := ns.Emit("everyone", 2); err != nil {
		t.Fatal(err)
	}
	if p := clients[1].NextText(t, wait); !strings.HasPrefix(p, `2["only-x",1`) {
		t.Fatalf("joined socket on node 1 got %q first", p)
	}
	if p := clients[0].NextText(t, wait); !strings.HasPrefix(p, `2["everyone",2`) {
		t.Fatalf("socket not in x got %q first", p)
	}
}
