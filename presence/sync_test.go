package presence

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/metrics"
)

// lose runs change on r (holding r.mu) and makes the delta carrying its
// changes vanish, as a lost message would: numbered, never sent.
func (r *Registry) lose(t *testing.T, change func()) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	change()
	if len(r.pending) == 0 {
		t.Fatal("nothing pending to lose")
	}
	r.pending = nil
	r.seq++
}

func ids(t *testing.T, r *Registry, w Where) []string {
	t.Helper()
	_, m := count(t, r, w)
	out := make([]string, 0, len(m))
	for _, x := range m {
		out = append(out, x.ID)
	}
	return out
}

// TestResyncAfterLostDelta: a delta of node a is lost (a join, then a
// leave): node c notices the gap at a's next beat, with no further change
// from a, asks for a's snapshot and converges, for the join and the leave.
func TestResyncAfterLostDelta(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	const ttl = time.Second
	counters := &metrics.Set{}
	a, c := open(t, b, "a", ttl), openWith(t, b, Config{Node: "c", TTL: ttl, Events: true, Metrics: counters})
	defer func() { _ = a.Close(context.Background()) }()
	defer func() { _ = c.Close(context.Background()) }()
	lobby := Where{Kind: KindIO, Scope: "/chat", Room: "lobby"}

	prefix := lobby.mustPrefix(t)
	a.lose(t, func() {
		a.count++
		a.local[prefix] = map[string]localMember{"s1": {at: 1, gen: 1}}
		a.queueLocked(change{join: true, prefix: prefix, id: "s1", at: 1})
	})
	eventually.True(t, 4*a.beatEvery()+syncWait, "c sees s1 after the lost join", func() bool {
		got := ids(t, c, lobby)
		return len(got) == 1 && got[0] == "s1"
	})

	a.Join(lobby, "s2", "") // delivered
	eventually.True(t, 5*time.Second, "c sees s2", func() bool { return len(ids(t, c, lobby)) == 2 })
	a.lose(t, func() { a.dropLocked(prefix, "s1", time.Now()) })
	eventually.True(t, 4*a.beatEvery()+syncWait, "c sees s1 gone after the lost leave", func() bool {
		got := ids(t, c, lobby)
		return len(got) == 1 && got[0] == "s2"
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.peers["a"]; p == nil || p.count != 1 || p.req != 0 {
		t.Fatalf("c's copy of a: %+v, want 1 membership, no snapshot pending", p)
	}
	if n := counters.PresenceResyncs(); n < 2 {
		t.Fatalf("%d resyncs counted, want one per lost delta at least", n)
	}
}

func (w Where) mustPrefix(t *testing.T) string {
	t.Helper()
	p, err := w.prefix()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLateNodeSeesEveryone: a node opened after the others have members
// answers with all of them as soon as Open returns (it asked every node),
// and the others take in its own members.
func TestLateNodeSeesEveryone(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	const ttl = 20 * time.Second // beats every 5 s: later than Open may wait
	a, c := open(t, b, "a", ttl), open(t, b, "c", ttl)
	defer func() { _ = a.Close(context.Background()) }()
	defer func() { _ = c.Close(context.Background()) }()
	lobby := Where{Kind: KindIO, Scope: "/chat", Room: "lobby"}
	a.Join(lobby, "s1", "alice")
	c.Join(lobby, "s2", "")
	for _, r := range []*Registry{a, c} {
		eventually.True(t, 5*time.Second, r.node+" sees both", func() bool { return len(ids(t, r, lobby)) == 2 })
	}
	d := open(t, b, "d", ttl)
	defer func() { _ = d.Close(context.Background()) }()
	n, m := count(t, d, lobby) // no polling: Open waited for the snapshots
	if n != 2 || m[0].ID != "s1" || m[0].User == nil || *m[0].User != "alice" || m[1].ID != "s2" {
		t.Fatalf("d right after Open: %d %+v, want s1 (alice) then s2", n, m)
	}
	d.Join(lobby, "s3", "")
	eventually.True(t, 5*time.Second, "a sees d's member", func() bool { return len(ids(t, a, lobby)) == 3 })
}

// TestJoinsShareDeltas: a burst of joins and leaves on one node reaches
// the other in a few batched messages, each within the batch bounds, not
// one message (or write) per change; the copy converges to the owner's.
func TestJoinsShareDeltas(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	const ttl = 2 * time.Second
	var mu sync.Mutex
	var deltas, changes, biggest int
	sub, err := b.Subscribe(bus.PresenceDeltaSubject, func(m *bus.Msg) {
		rd := reader{b: m.Data}
		h := rd.header()
		if h.node != "a" || h.kind != kindDelta || len(rd.b) == 0 {
			return // beats, other nodes
		}
		n := 0
		var c rawChange
		for rd.next(&c) {
			n++
		}
		mu.Lock()
		deltas, changes, biggest = deltas+1, changes+n, max(biggest, len(m.Data))
		if n > maxBatch {
			t.Errorf("a delta of %d changes, want at most %d", n, maxBatch)
		}
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	counters := &metrics.Set{}
	a, c := open(t, b, "a", ttl), openWith(t, b, Config{Node: "c", TTL: ttl, Events: true, Metrics: counters})
	defer func() { _ = a.Close(context.Background()) }()
	defer func() { _ = c.Close(context.Background()) }()
	ns := Where{Kind: KindIO, Scope: "/", Whole: true}
	const joins = 3*maxBatch + 7
	for i := range joins {
		a.Join(ns, fmt.Sprintf("s%d", i), "")
		if i%2 == 1 {
			a.Leave(ns, fmt.Sprintf("s%d", i), "", false)
		}
	}
	want := joins - joins/2
	eventually.True(t, 10*time.Second, "c sees a's members", func() bool {
		n, _ := count(t, c, ns)
		return n == want
	})
	eventually.True(t, 10*time.Second, "every change counted", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return changes >= joins+joins/2
	})
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d joins and %d leaves in %d deltas (largest %d bytes)", joins, joins/2, deltas, biggest)
	if changes != joins+joins/2 || deltas > 2*(joins+joins/2)/maxBatch+20 || biggest > maxBatchBytes+1024 {
		t.Fatalf("%d changes in %d deltas, largest %d bytes: want %d changes in a few deltas of at most %d bytes",
			changes, deltas, biggest, joins+joins/2, maxBatchBytes)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.peers["a"]; p == nil || p.count != uint64(want) || p.req != 0 {
		t.Fatalf("c's copy of a: %+v, want %d memberships", p, want)
	}
	if n := counters.PresenceResyncs(); n != 0 {
		t.Fatalf("%d resyncs: every delta should have arrived in order", n)
	}
}

// TestPendingIsBounded: changes the sender cannot take fast enough are
// dropped past maxPending (and a sequence number skipped, so the others
// ask for a snapshot) instead of piling up.
func TestPendingIsBounded(t *testing.T) {
	r := &Registry{cfg: Config{}.withDefaults(), owned: newOwned(), sendWake: make(chan struct{}, 1)}
	ns := Where{Kind: KindIO, Scope: "/", Whole: true}
	for i := range maxPending + 100 {
		r.Join(ns, fmt.Sprintf("s%d", i), "")
	}
	if len(r.pending) > maxPending || !r.lost {
		t.Fatalf("%d pending (lost %v), want at most %d and a gap", len(r.pending), r.lost, maxPending)
	}
	if r.count != maxPending+100 {
		t.Fatalf("count %d, want every join held locally", r.count)
	}
	msgs := r.takeLocked(true)
	if len(msgs) != 2 || r.seq != 2 { // the 100 changes after the drop, a beat; a number skipped
		t.Fatalf("%d messages, seq %d: want one delta and a beat, seq 2", len(msgs), r.seq)
	}
}

// TestRestartedNodeIsNewProcess: a node that comes back under the same
// name with a new epoch replaces its former members at once: the former
// process's members are announced as left (by the sweeper), the new one's
// are listed.
func TestRestartedNodeIsNewProcess(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	const ttl = 3 * time.Second
	left := leftEvents(t, b)
	a, c := open(t, b, "a", ttl), open(t, b, "c", ttl)
	defer func() { _ = a.Close(context.Background()) }()
	lobby := Where{Kind: KindIO, Scope: "/chat", Room: "lobby"}
	c.Join(lobby, "old", "")
	eventually.True(t, 5*time.Second, "a sees old", func() bool { return len(ids(t, a, lobby)) == 1 })
	c.crash()
	c2 := open(t, b, "c", ttl)
	defer func() { _ = c2.Close(context.Background()) }()
	c2.Join(lobby, "new", "")
	// Well within the TTL: not the silence of the former process.
	eventually.True(t, ttl/2, "a sees new only", func() bool {
		got := ids(t, a, lobby)
		return len(got) == 1 && got[0] == "new"
	})
	eventually.True(t, 4*ttl, "old announced as left", func() bool {
		l := left()
		return len(l) == 1 && l[0].ID == "old"
	})
}

// FuzzReader: any bytes on the presence subjects decode or fail, never
// panic.
func FuzzReader(f *testing.F) {
	f.Add(appendChange(appendHeader(nil, header{kind: kindDelta, node: "a", epoch: 1, seq: 2, count: 3}),
		change{join: true, prefix: "io.chat.lobby.", id: "s1", user: "u", at: 5}))
	f.Add(appendHeader(nil, header{kind: kindSnap, node: "a", req: 1, last: true}))
	f.Add(appendHeader(nil, header{kind: kindBuried, node: "a", dead: "b", deadEpoch: 9}))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := reader{b: data}
		rd.header()
		var c rawChange
		for rd.next(&c) {
		}
	})
}

// TestTakenForDeadComesBack: the sweeper (a) takes c for dead (c's beats
// late by a TTL, as when c is cut off) and announces c's member as left;
// when c is heard again, a tells it, c announces its member as joined
// again (once), and a lists it again.
func TestTakenForDeadComesBack(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	const ttl = time.Second
	events := recordEvents(t, b)
	a, c := open(t, b, "a", ttl), open(t, b, "c", ttl)
	defer func() { _ = a.Close(context.Background()) }()
	defer func() { _ = c.Close(context.Background()) }()
	lobby := Where{Kind: KindIO, Scope: "/chat", Room: "lobby"}
	c.Join(lobby, "s1", "")
	eventually.True(t, 5*time.Second, "a sees s1, and trusts its own beats", func() bool {
		a.mu.Lock()
		trusted := a.trustLocked(time.Now())
		a.mu.Unlock()
		return trusted && len(ids(t, a, lobby)) == 1
	})
	a.mu.Lock()
	now := time.Now()
	a.peers["c"].seen = now.Add(-2 * ttl) // silent for two TTLs
	left, buried := a.sweepLocked(now)
	a.mu.Unlock()
	if len(left) != 1 || len(buried) != 1 {
		t.Fatalf("sweep: %d left, %d burials, want one each", len(left), len(buried))
	}
	a.sendBurials(left, buried)
	const joined = `sockbus.presence.io.chat.joined {"room":"lobby","id":"s1","user":null}`
	const leftEv = `sockbus.presence.io.chat.left {"room":"lobby","id":"s1","user":null}`
	eventually.True(t, 5*time.Second, "s1 left, then joined again", func() bool {
		e := events()
		return len(e) == 3 && e[1] == leftEv && e[2] == joined
	})
	eventually.True(t, 5*time.Second, "a lists s1 again", func() bool { return len(ids(t, a, lobby)) == 1 })
	time.Sleep(ttl / 2) // a second joined would come within this
	if e := events(); len(e) != 3 {
		t.Fatalf("events %q, want joined, left, joined", e)
	}
}

// TestConvergesUnderChurnAndLoss: three nodes join and leave at random
// while some of their deltas are lost; every node's copy of every other
// node ends equal to that node's own memberships.
func TestConvergesUnderChurnAndLoss(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	const ttl = time.Second
	nodes := []*Registry{open(t, b, "a", ttl), open(t, b, "c", ttl), open(t, b, "d", ttl)}
	for _, r := range nodes {
		defer func() { _ = r.Close(context.Background()) }()
	}
	lists := []Where{{Kind: KindIO, Scope: "/", Whole: true}, {Kind: KindIO, Scope: "/", Room: "r"}, {Kind: KindWS, Scope: "ch"}}
	rng := rand.New(rand.NewPCG(1, 2))
	lost := 0
	for i := range 3000 {
		r := nodes[rng.IntN(len(nodes))]
		w, id := lists[rng.IntN(len(lists))], fmt.Sprintf("%s-%d", r.node, rng.IntN(100))
		if rng.IntN(2) == 0 {
			r.Join(w, id, fmt.Sprintf("u%d", rng.IntN(3)))
		} else {
			r.Leave(w, id, "", false)
		}
		if i%97 == 0 {
			r.mu.Lock()
			if len(r.pending) > 0 {
				r.pending, r.seq, lost = nil, r.seq+1, lost+1
			}
			r.mu.Unlock()
		}
		if i%500 == 0 {
			time.Sleep(10 * time.Millisecond) // let some deltas go between losses
		}
	}
	t.Logf("%d deltas lost", lost)
	for _, x := range nodes {
		for _, y := range nodes {
			if x != y {
				eventually.True(t, 4*ttl+syncWait, y.node+"'s copy of "+x.node, func() bool { return sameCopy(x, y) })
			}
		}
	}
}

// TestSnapshotThenBufferedDeltas: a gap in node a's deltas starts a
// snapshot request; the deltas that arrive before the snapshot are kept
// and applied after it, those it covers skipped, so one request is enough.
func TestSnapshotThenBufferedDeltas(t *testing.T) {
	r := &Registry{cfg: Config{}.withDefaults(), node: "c", owned: newOwned(),
		peers: map[string]*peer{}, graves: map[string]*grave{}, told: map[string]told{}}
	const prefix = "io.=./."
	delta := func(seq uint64, changes ...change) (header, []byte) {
		var body []byte
		for _, c := range changes {
			body = appendChange(body, c)
		}
		return header{kind: kindDelta, node: "a", epoch: 7, seq: seq}, body
	}
	join := func(id string) change { return change{join: true, prefix: prefix, id: id, at: 1} }
	leave := func(id string) change { return change{prefix: prefix, id: id} }
	now := time.Now()
	var asks []ask
	take := func(h header, body []byte) {
		a, refusal := r.fromPeerLocked(h, body, now)
		if refusal != "" {
			t.Fatalf("delta %d refused: %s", h.seq, refusal)
		}
		asks = append(asks, a...)
	}
	r.mu.Lock()
	take(delta(1, join("x")))
	take(delta(3, join("z"))) // 2 was lost
	take(delta(2, join("y"))) // covered by the snapshot, arriving late
	take(delta(4, leave("x")))
	req := r.peers["a"].req
	r.mu.Unlock()
	if len(asks) != 1 || req == 0 {
		t.Fatalf("asks %+v, request %d: want one snapshot request", asks, req)
	}
	snap := appendHeader(nil, header{kind: kindSnap, node: "a", epoch: 7, seq: 2, count: 2, req: req, last: true})
	snap = appendChange(appendChange(snap, join("x")), join("y"))
	r.snapped(&bus.Msg{Data: snap})
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.peers["a"]
	_, x := p.lists[prefix]["x"]
	_, y := p.lists[prefix]["y"]
	_, z := p.lists[prefix]["z"]
	if p.req != 0 || p.seq != 4 || p.count != 2 || x || !y || !z {
		t.Fatalf("a after the snapshot: seq %d, count %d, request %d, lists %v: want y and z at seq 4", p.seq, p.count, p.req, p.lists)
	}
}
