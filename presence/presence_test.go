package presence

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, b *bus.Bus, node string, ttl time.Duration) *Registry {
	t.Helper()
	return openWith(t, b, Config{Node: node, TTL: ttl, Events: true})
}

func openWith(t *testing.T, b *bus.Bus, cfg Config) *Registry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := Open(ctx, b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// crash stops a registry as a killed process would: no more heartbeats,
// nothing removed.
func (r *Registry) crash() {
	for _, s := range r.subs {
		_ = s.Unsubscribe()
	}
	r.cancel()
	r.wg.Wait()
}

// recordEvents keeps every presence event published on b, in order;
// events returns a copy of those seen so far.
func recordEvents(t *testing.T, b *bus.Bus) (events func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	sub, err := b.Subscribe(bus.PresenceEvents, func(m *bus.Msg) {
		mu.Lock()
		seen = append(seen, m.Subject+" "+string(m.Data))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

func count(t *testing.T, r *Registry, w Where) (int, []Member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := r.Query(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	return a.Count, a.Members
}

// TestCrashedNodeLeavesWithinTTL: node a crashes (no cleanup) holding
// alice's socket; within the TTL she is gone from node b's answer, and one
// left event (not one per surviving node) names her.
func TestCrashedNodeLeavesWithinTTL(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	const ttl = time.Second
	var mu sync.Mutex
	var left []Event
	sub, err := b.Subscribe(bus.PresenceEventSubject(KindIO, "chat", "left"), func(m *bus.Msg) {
		var e Event
		if json.Unmarshal(m.Data, &e) == nil {
			mu.Lock()
			left = append(left, e)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	a, c, d := open(t, b, "a", ttl), open(t, b, "c", ttl), open(t, b, "d", ttl)
	defer func() { _ = c.Close(context.Background()) }()
	defer func() { _ = d.Close(context.Background()) }()
	lobby := Where{Kind: KindIO, Scope: "/chat", Room: "lobby"}
	a.Join(lobby, "s1", "alice")
	c.Join(lobby, "s2", "")
	eventually.True(t, 5*time.Second, "both members seen from d", func() bool {
		n, _ := count(t, d, lobby)
		return n == 2
	})

	a.crash()
	crashed := time.Now()
	// Silent for the TTL, then noticed within a sweep tick; slack for load.
	bound := ttl + ttl/8 + 500*time.Millisecond
	eventually.True(t, 4*ttl, "alice gone from d's answer", func() bool {
		n, m := count(t, d, lobby)
		return n == 1 && m[0].ID == "s2"
	})
	gone := time.Since(crashed)
	eventually.True(t, 4*ttl, "her left event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(left) >= 1
	})
	announced := time.Since(crashed)
	t.Logf("crashed node's member gone after %v, announced after %v (TTL %v)", gone, announced, ttl)
	if gone > bound || announced > bound {
		t.Errorf("alice gone after %v, announced after %v: want within %v", gone, announced, bound)
	}
	// And the dead node's state is gone from every node, not only left out.
	for _, r := range []*Registry{c, d} {
		eventually.True(t, 4*ttl, r.node+" forgot a", func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.peers["a"] == nil && r.graves["a"] == nil
		})
	}
	// One sweeper (c, the smallest live name): a second announcement
	// would come within a TTL.
	time.Sleep(ttl)
	mu.Lock()
	defer mu.Unlock()
	if len(left) != 1 || left[0].ID != "s1" || left[0].User == nil || *left[0].User != "alice" || left[0].Room == nil || *left[0].Room != "lobby" {
		t.Fatalf("left events %+v, want one for s1 (alice) in lobby", left)
	}
}

// leftEvents collects the left events of namespace /chat until the test ends.
func leftEvents(t *testing.T, b *bus.Bus) func() []Event {
	t.Helper()
	var mu sync.Mutex
	var left []Event
	sub, err := b.Subscribe(bus.PresenceEventSubject(KindIO, "chat", "left"), func(m *bus.Msg) {
		var e Event
		if json.Unmarshal(m.Data, &e) == nil {
			mu.Lock()
			left = append(left, e)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return func() []Event {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(left)
	}
}

// TestSweeperTakesOver: the sweeper (a, the smallest name) and the node
// holding bob (b) crash together: c, next in line, finds itself the
// sweeper, announces bob as left once and removes his key.
func TestSweeperTakesOver(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	const ttl = time.Second
	left := leftEvents(t, b)
	ra, rb, rc, rd := open(t, b, "a", ttl), open(t, b, "b", ttl), open(t, b, "c", ttl), open(t, b, "d", ttl)
	defer func() { _ = rc.Close(context.Background()) }()
	defer func() { _ = rd.Close(context.Background()) }()
	lobby := Where{Kind: KindIO, Scope: "/chat", Room: "lobby"}
	rb.Join(lobby, "s1", "bob")
	eventually.True(t, 5*time.Second, "bob seen from d", func() bool {
		n, _ := count(t, rd, lobby)
		return n == 1
	})
	ra.crash()
	rb.crash()
	crashed := time.Now()
	eventually.True(t, 4*ttl, "bob's left event", func() bool { return len(left()) >= 1 })
	t.Logf("announced %v after the crash (TTL %v)", time.Since(crashed), ttl)
	time.Sleep(ttl) // a second announcement would come within this
	if got := left(); len(got) != 1 || got[0].ID != "s1" {
		t.Fatalf("left events %+v, want one for s1", got)
	}
	if n, _ := count(t, rc, lobby); n != 0 {
		t.Fatalf("lobby on c: %d members, want none", n)
	}
}

// TestDropThenBackIsSilent: a socket dropped with a chance to recover
// (Leave later) that joins again within the TTL, on another node, makes no
// event at all and stays present; one that does not come back leaves
// after the TTL.
func TestDropThenBackIsSilent(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	const ttl = time.Second
	events := recordEvents(t, b)
	a, c := open(t, b, "a", ttl), open(t, b, "c", ttl)
	defer func() { _ = a.Close(context.Background()) }()
	defer func() { _ = c.Close(context.Background()) }()
	lobby := Where{Kind: KindIO, Scope: "/", Room: "lobby"}
	a.Join(lobby, "s1", "")
	a.Join(lobby, "s2", "")
	eventually.True(t, 5*time.Second, "two joined events", func() bool {
		return len(events()) == 2
	})
	// A client takes longer to come back than a delta to reach c.
	eventually.True(t, 5*time.Second, "c sees both", func() bool { n, _ := count(t, c, lobby); return n == 2 })
	a.Leave(lobby, "s1", "", true)
	a.Leave(lobby, "s2", "", true)
	c.Join(lobby, "s1", "") // s1 recovers on node c
	eventually.True(t, 5*ttl, "s2 left after the TTL", func() bool {
		return len(events()) == 3
	})
	time.Sleep(ttl) // a wrong left for s1 would come within this
	if seen := events(); len(seen) != 3 || seen[2] != `sockbus.presence.io.~.left {"room":"lobby","id":"s2","user":null}` {
		t.Fatalf("events %q, want two joins and s2's leave only", seen)
	}
	if n, m := count(t, c, lobby); n != 1 || m[0].ID != "s1" {
		t.Fatalf("lobby: %d %+v, want s1 alone", n, m)
	}
	// Nothing outlives a membership: a holds nothing, c holds s1, and
	// a's copy of c agrees.
	eventually.True(t, 5*ttl, "a empty, c holding s1 alone", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		c.mu.Lock()
		defer c.mu.Unlock()
		p := a.peers["c"]
		return a.count == 0 && len(a.local) == 0 && len(a.delayed) == 0 && c.count == 1 && p != nil && p.count == 1
	})
}

// TestOwnMembersAtOnce: a node answers with its own sockets as they stand,
// stored or not yet (a socket asking right after it connected sees
// itself); a delayed leave keeps the socket listed until it is due, and a
// join meanwhile keeps it for good.
func TestOwnMembersAtOnce(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	const ttl = time.Second
	a := open(t, b, "a", ttl)
	defer func() { _ = a.Close(context.Background()) }()
	lobby := Where{Kind: KindIO, Scope: "/chat", Room: "lobby"}
	a.Join(lobby, "s1", "")
	a.Join(lobby, "s2", "")
	if n, m := count(t, a, lobby); n != 2 || m[0].ID != "s1" || m[1].ID != "s2" {
		t.Fatalf("right after the joins: %d %+v, want s1 then s2", n, m)
	}
	a.Leave(lobby, "s2", "", false)
	if n, _ := count(t, a, lobby); n != 1 {
		t.Fatalf("right after s2 left: %d members, want 1", n)
	}
	a.Leave(lobby, "s1", "", true) // a drop it may recover from
	a.Join(lobby, "s1", "")        // and it did
	time.Sleep(2 * ttl)            // the delayed leave comes due within this
	if n, _ := count(t, a, lobby); n != 1 {
		t.Fatalf("s1 back before its delayed leave came due: %d members, want 1", n)
	}
	a.Leave(lobby, "s1", "", true)
	eventually.True(t, 4*ttl, "s1 gone after the TTL", func() bool {
		n, _ := count(t, a, lobby)
		return n == 0
	})
}
