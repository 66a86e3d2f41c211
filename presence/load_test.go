package presence

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/metrics"
)

// TestLateNodeSyncsManyMembers: 10,000 sockets on one node, each in the
// namespace and one of 100 rooms (20,000 memberships); a node started
// later has every one of them when Open returns, within helloWait, sent as
// chunks within the batch bounds, and holds them in a bounded heap.
func TestLateNodeSyncsManyMembers(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	const ttl = 10 * time.Second
	a := open(t, b, "a", ttl)
	defer func() { _ = a.Close(context.Background()) }()
	ns := Where{Kind: KindIO, Scope: "/chat", Whole: true}
	const sockets, rooms = 10_000, 100
	for i := range sockets {
		id, user := fmt.Sprintf("socket-%05d-%s", i, strings.Repeat("x", 12)), fmt.Sprintf("user-%d", i)
		a.Join(ns, id, user)
		a.Join(Where{Kind: KindIO, Scope: "/chat", Room: fmt.Sprintf("room-%d", i%rooms)}, id, user)
	}
	var mu sync.Mutex
	var chunks, biggest, most int
	sub, err := b.Subscribe(bus.PresenceSnapSubject("d"), func(m *bus.Msg) {
		rd := reader{b: m.Data}
		rd.header()
		n := 0
		var c rawChange
		for rd.next(&c) {
			n++
		}
		mu.Lock()
		chunks, biggest, most = chunks+1, max(biggest, len(m.Data)), max(most, n)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	d := open(t, b, "d", ttl)
	took := time.Since(start)
	defer func() { _ = d.Close(context.Background()) }()
	runtime.GC()
	runtime.ReadMemStats(&after)
	n, _ := count(t, d, ns) // no polling: Open waited for the snapshot
	room, members := count(t, d, Where{Kind: KindIO, Scope: "/chat", Room: "room-7"})
	mu.Lock()
	defer mu.Unlock()
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("Open took %v; %d chunks, largest %d bytes / %d changes; heap +%d KiB", took, chunks, biggest, most, heap>>10)
	if n != sockets || room != sockets/rooms || *members[0].User != "user-7" {
		t.Fatalf("d right after Open: %d in the namespace, %d in room-7 (%+v): want %d and %d", n, room, members[:1], sockets, sockets/rooms)
	}
	if took > helloWait || most > maxBatch || biggest > maxBatchBytes+1024 || chunks < 2*sockets/maxBatch {
		t.Fatalf("Open took %v, %d chunks of at most %d changes, %d bytes: want within %v, chunks within %d changes and %d bytes",
			took, chunks, most, biggest, helloWait, maxBatch, maxBatchBytes)
	}
	if heap > 32<<20 {
		t.Fatalf("the late node's heap grew by %d MiB for %d memberships, want under 32", heap>>20, 2*sockets)
	}
}

// TestManyNodesStartAtOnce: 12 nodes start at once next to a node with
// 10,000 sockets (20,000 memberships); each has every membership when its
// Open returns. The node asked answers the requests that wait together
// with one copy of its memberships, not one copy each (one each: 3 of the
// 12 had nobody after Open's 2 s), and about one request per node.
func TestManyNodesStartAtOnce(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	const ttl = 10 * time.Second
	a := open(t, b, "a", ttl)
	defer func() { _ = a.Close(context.Background()) }()
	ns := Where{Kind: KindIO, Scope: "/chat", Whole: true}
	const sockets = 10_000
	for i := range sockets {
		id := fmt.Sprintf("socket-%05d", i)
		a.Join(ns, id, "")
		a.Join(Where{Kind: KindIO, Scope: "/chat", Room: fmt.Sprintf("room-%d", i%100)}, id, "")
	}
	const starting = 12
	nodes := make([]*Registry, starting)
	took := make([]time.Duration, starting)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i] = open(t, b, fmt.Sprintf("n%02d", i), ttl)
			took[i] = time.Since(start)
		}()
	}
	wg.Wait()
	for _, r := range nodes {
		defer func() { _ = r.Close(context.Background()) }()
	}
	for i, r := range nodes {
		if n, _ := count(t, r, ns); n != sockets {
			t.Errorf("%s right after Open (%v): %d members, want %d", r.node, took[i], n, sockets)
		}
	}
	a.mu.Lock()
	copies, answered := a.copies, a.answered
	a.mu.Unlock()
	t.Logf("%d nodes open within %v; a answered %d requests with %d copies", starting, slices.Max(took), answered, copies)
	if answered < starting || copies >= answered {
		t.Fatalf("a answered %d requests with %d copies of its memberships: want the waiting ones answered together", answered, copies)
	}
	// One request per starting node, give or take one: a node that hears a
	// before its hello went out waits for the hello's answer.
	if answered > starting+starting/4 {
		t.Fatalf("a answered %d requests from %d starting nodes: want about one each", answered, starting)
	}
}

// TestHelloFloodIsBounded: a NATS client floods the hello subject (every
// node's snapshot, to a reply inbox nobody reads). The node holding
// 10,000 sockets answers at most maxSyncAsks requests per beat, not one
// per request, and its changes keep reaching the other node at once.
func TestHelloFloodIsBounded(t *testing.T) {
	b, nc := forger(t)
	const ttl = 4 * time.Second // a beat a second
	counters := &metrics.Set{}
	a := openWith(t, b, Config{Node: "a", TTL: ttl, Metrics: counters})
	c := open(t, b, "c", ttl)
	defer func() { _ = a.Close(context.Background()) }()
	defer func() { _ = c.Close(context.Background()) }()
	ns := Where{Kind: KindIO, Scope: "/chat", Whole: true}
	for i := range 10_000 {
		a.Join(ns, fmt.Sprintf("socket-%05d", i), "")
	}
	eventually.True(t, 10*time.Second, "c's copy of a", func() bool { return sameCopy(a, c) })
	a.mu.Lock()
	before := a.answered
	a.mu.Unlock()
	if _, err := nc.SubscribeSync(bus.PresenceSnapSubject("*")); err != nil { // never read
		t.Fatal(err)
	}
	const flood = 2000 // 40 every 20 ms: about 1 s
	start := time.Now()
	half := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond) // the flood's pace, not a sync
		defer tick.Stop()
		for i := range flood {
			if i%40 == 0 {
				<-tick.C
			}
			if err := nc.PublishRequest(bus.PresenceHelloSubject, bus.PresenceSnapSubject(fmt.Sprintf("flood%d", i)), binary.AppendUvarint(nil, uint64(i+1))); err != nil {
				done <- err
				return
			}
			if i == flood/2 {
				close(half)
			}
		}
		done <- nc.Flush()
	}()
	<-half
	joined := time.Now()
	a.Join(ns, "later", "")
	eventually.True(t, 10*time.Second, "a's join at c during the flood", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, in := c.peers["a"].lists[ns.mustPrefix(t)]["later"]
		return in
	})
	late := time.Since(joined)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // what a answers meanwhile counts too; a bound, not a sync
	a.mu.Lock()
	answered := a.answered - before
	a.mu.Unlock()
	elapsed := time.Since(start)
	allowed := maxSyncAsks * (2 + int(elapsed/a.beatEvery()))
	t.Logf("%d hellos: a answered %d in %v (allowed %d), %d dropped; a's join reached c after %v", flood, answered, elapsed, allowed, counters.PresenceRejections(), late)
	if answered > allowed || late > time.Second {
		t.Fatalf("a answered %d of %d hellos within %v (want at most %d); its join reached c after %v (want within 1s)",
			answered, flood, elapsed, allowed, late)
	}
}
