package presence

import (
	"context"
	"encoding/json"
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := Open(ctx, b, Config{Node: node, TTL: ttl, Events: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// crash stops a registry as a killed process would: no more heartbeats,
// nothing removed.
func (r *Registry) crash() {
	if r.query != nil {
		_ = r.query.Unsubscribe()
	}
	r.cancel()
	r.wg.Wait()
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
	eventually.True(t, 4*ttl, "alice gone from d's answer", func() bool {
		n, m := count(t, d, lobby)
		return n == 1 && m[0].ID == "s2"
	})
	if took := time.Since(crashed); took > 2*ttl {
		t.Errorf("alice left after %v, want within about the TTL %v", took, ttl)
	}
	eventually.True(t, 4*ttl, "her left event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(left) >= 1
	})
	// Both survivors swept; the conditional purge let one of them announce.
	time.Sleep(ttl) // a second announcement would come within this
	mu.Lock()
	defer mu.Unlock()
	if len(left) != 1 || left[0].ID != "s1" || left[0].User == nil || *left[0].User != "alice" || left[0].Room == nil || *left[0].Room != "lobby" {
		t.Fatalf("left events %+v, want one for s1 (alice) in lobby", left)
	}
}

// TestDropThenBackIsSilent: a socket dropped with a chance to recover
// (Leave later) that joins again within the TTL, on another node, makes no
// event at all and stays present; one that does not come back leaves
// after the TTL.
func TestDropThenBackIsSilent(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	const ttl = time.Second
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
	defer func() { _ = sub.Unsubscribe() }()
	a, c := open(t, b, "a", ttl), open(t, b, "c", ttl)
	defer func() { _ = a.Close(context.Background()) }()
	defer func() { _ = c.Close(context.Background()) }()
	lobby := Where{Kind: KindIO, Scope: "/", Room: "lobby"}
	a.Join(lobby, "s1", "")
	a.Join(lobby, "s2", "")
	eventually.True(t, 5*time.Second, "two joined events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 2
	})
	a.Leave(lobby, "s1", "", true)
	a.Leave(lobby, "s2", "", true)
	c.Join(lobby, "s1", "") // s1 recovers on node c
	eventually.True(t, 5*ttl, "s2 left after the TTL", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 3
	})
	time.Sleep(ttl) // a wrong left for s1 would come within this
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 || seen[2] != `sockbus.presence.io.~.left {"room":"lobby","id":"s2","user":null}` {
		t.Fatalf("events %q, want two joins and s2's leave only", seen)
	}
	if n, m := count(t, c, lobby); n != 1 || m[0].ID != "s1" {
		t.Fatalf("lobby: %d %+v, want s1 alone", n, m)
	}
	// Nothing outlives a membership: s2's purge marker goes after the TTL,
	// leaving the two heartbeats and s1.
	eventually.True(t, 5*ttl, "the bucket holds 3 messages", func() bool {
		st, err := c.kv.Status(context.Background())
		return err == nil && st.Values() == 3
	})
}
