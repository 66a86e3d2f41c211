package presence

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/metrics"
)

// forger is a plain NATS client on the embedded server's listener, as any
// backend with the NATS credentials is: it can publish on the presence
// subjects.
func forger(t *testing.T) (*bus.Bus, *nats.Conn) {
	t.Helper()
	b := testutil.StartBus(t, bus.Config{NATSAddr: "127.0.0.1:0"})
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return b, nc
}

func forge(t *testing.T, nc *nats.Conn, subject string, data []byte) {
	t.Helper()
	if err := nc.Publish(subject, data); err != nil {
		t.Fatal(err)
	}
}

func forgedDelta(node string, epoch, seq uint64, changes ...change) []byte {
	b := appendHeader(nil, header{kind: kindDelta, node: node, epoch: epoch, seq: seq, count: uint64(len(changes))})
	for _, c := range changes {
		b = appendChange(b, c)
	}
	return b
}

// sameCopy reports whether y's copy of x equals x's own memberships.
func sameCopy(x, y *Registry) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	y.mu.Lock()
	defer y.mu.Unlock()
	p := y.peers[x.node]
	if p == nil || p.req != 0 || p.count != x.count || len(p.lists) != len(x.local) {
		return false
	}
	for prefix, list := range x.local {
		if len(p.lists[prefix]) != len(list) {
			return false
		}
		for id, l := range list {
			if m, in := p.lists[prefix][id]; !in || m.user != l.user || m.at != l.at {
				return false
			}
		}
	}
	return true
}

// TestForgedNodeNamesAreBounded: a NATS client publishes deltas under
// made-up node names, some of them no node can have (a subject's
// separators and wildcards, a space, empty): those are dropped, and of the
// others no more than --presence-max-nodes are kept; every drop is
// counted. When the made-up nodes go silent they are buried like dead
// nodes, and the real member is the only one left in the answer.
func TestForgedNodeNamesAreBounded(t *testing.T) {
	b, nc := forger(t)
	const ttl = 2 * time.Second
	counters := &metrics.Set{}
	a := open(t, b, "a", ttl)
	c := openWith(t, b, Config{Node: "c", TTL: ttl, Events: true, Metrics: counters, MaxNodes: 8})
	defer func() { _ = a.Close(context.Background()) }()
	defer func() { _ = c.Close(context.Background()) }()
	lobby := Where{Kind: KindIO, Scope: "/chat", Room: "lobby"}
	prefix := lobby.mustPrefix(t)
	a.Join(lobby, "s1", "")
	eventually.True(t, 5*time.Second, "c sees s1", func() bool { return len(ids(t, c, lobby)) == 1 })

	bad := []string{"", "x.y", "x.>", "*", "a b", "a\r\nPUB x 1", strings.Repeat("n", 300)}
	for _, name := range bad {
		forge(t, nc, bus.PresenceDeltaSubject, forgedDelta(name, 1, 1, change{join: true, prefix: prefix, id: "bad", at: 1}))
	}
	const made = 40
	for i := range made {
		forge(t, nc, bus.PresenceDeltaSubject, forgedDelta(fmt.Sprintf("f%d", i), 1, 1,
			change{join: true, prefix: prefix, id: fmt.Sprintf("fake%d", i), at: 1}))
	}
	// c knows a; 8 nodes in all with c: 6 made-up ones are kept.
	want := uint64(made - 6 + len(bad))
	eventually.True(t, 5*time.Second, "drops counted", func() bool { return counters.PresenceRejections() >= want })
	c.mu.Lock()
	n := len(c.peers)
	for _, name := range bad {
		if c.peers[name] != nil {
			t.Errorf("a node named %q kept", name)
		}
	}
	c.mu.Unlock()
	if n > 7 {
		t.Fatalf("%d other nodes kept, want at most 7 (--presence-max-nodes 8)", n)
	}
	if got := counters.PresenceRejections(); got != want {
		t.Fatalf("%d drops counted, want %d", got, want)
	}
	if got := ids(t, c, lobby); len(got) != 7 {
		t.Fatalf("c lists %q, want s1 and the 6 made-up nodes' members", got)
	}
	// Silent for the TTL: buried, and the real member is the only one.
	eventually.True(t, 4*ttl, "the made-up nodes buried", func() bool {
		got := ids(t, c, lobby)
		return len(got) == 1 && got[0] == "s1"
	})
}

// TestForgedBackRejoinsOnce: the burial message that tells a node it was
// taken for dead and is heard again makes it announce every member as
// joined. Published over and over by a NATS client, it is acted on once
// per TTL, not once per message (each costs an event per member).
func TestForgedBackRejoinsOnce(t *testing.T) {
	b, nc := forger(t)
	const ttl = 5 * time.Second
	counters := &metrics.Set{}
	c := openWith(t, b, Config{Node: "c", TTL: ttl, Events: true, Metrics: counters})
	defer func() { _ = c.Close(context.Background()) }()
	var mu sync.Mutex
	joined := 0
	sub, err := b.Subscribe(bus.PresenceEventSubject(KindIO, "chat", "joined"), func(*bus.Msg) {
		mu.Lock()
		joined++
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	lobby := Where{Kind: KindIO, Scope: "/chat", Room: "lobby"}
	const members = 50
	for i := range members {
		c.Join(lobby, fmt.Sprintf("s%d", i), "")
	}
	eventually.True(t, 5*time.Second, "the joins announced", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return joined == members
	})
	const forged = 100
	back := appendHeader(nil, header{kind: kindBuried, node: "x", epoch: 1, count: 1, dead: "c", deadEpoch: c.epoch})
	for range forged {
		forge(t, nc, bus.PresenceDeltaSubject, back)
	}
	eventually.True(t, 5*time.Second, "the repeats dropped and counted", func() bool {
		return counters.PresenceRejections() >= forged-1
	})
	eventually.True(t, 5*time.Second, "the members announced back", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return joined >= 2*members
	})
	mu.Lock()
	defer mu.Unlock()
	if joined != 2*members {
		t.Fatalf("%d joined events after %d forged messages, want %d (one rejoin)", joined, forged, 2*members)
	}
}

// TestForgedLargeDeltasAreBounded: a made-up node's deltas, out of order
// (so kept until its snapshot comes, which never does) and each near
// NATS's max payload, are kept up to maxBufBytes for all nodes together,
// not maxBuffered messages of any size per node.
func TestForgedLargeDeltasAreBounded(t *testing.T) {
	b, nc := forger(t)
	counters := &metrics.Set{}
	c := openWith(t, b, Config{Node: "c", TTL: 10 * time.Second, Metrics: counters})
	defer func() { _ = c.Close(context.Background()) }()
	big := change{join: true, prefix: "io.chat.lobby.", id: strings.Repeat("i", 500<<10), at: 1}
	const sent = 100 // 50 MB
	for i := range sent {
		forge(t, nc, bus.PresenceDeltaSubject, forgedDelta(fmt.Sprintf("f%d", i%4), 1, uint64(2+i/4), big))
	}
	eventually.True(t, 20*time.Second, "the deltas taken in", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		kept := 0
		for _, p := range c.peers {
			kept += len(p.buffered)
		}
		return uint64(kept)+counters.PresenceRejections() == sent
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	held := 0
	for _, p := range c.peers {
		held += p.bufBytes
	}
	t.Logf("%d bytes kept of %d sent, %d deltas dropped", held, sent*len(big.id), counters.PresenceRejections())
	if held > maxBufBytes || held != c.bufBytes {
		t.Fatalf("%d bytes kept (accounted %d), want at most %d", held, c.bufBytes, maxBufBytes)
	}
}

// TestForgedSequencesCostAResync: messages in a real node's name and epoch
// with made-up numbers (a beat far ahead, a delta removing its member, a
// delta of an earlier epoch, a count that lies) cost the other node at
// most a snapshot of the real node each; its copy ends equal to the real
// node's memberships, and the real node's later changes still arrive.
func TestForgedSequencesCostAResync(t *testing.T) {
	b, nc := forger(t)
	const ttl = time.Second
	counters := &metrics.Set{}
	a := open(t, b, "a", ttl)
	c := openWith(t, b, Config{Node: "c", TTL: ttl, Metrics: counters})
	defer func() { _ = a.Close(context.Background()) }()
	defer func() { _ = c.Close(context.Background()) }()
	lobby := Where{Kind: KindIO, Scope: "/chat", Room: "lobby"}
	prefix := lobby.mustPrefix(t)
	for i := range 100 {
		a.Join(lobby, fmt.Sprintf("s%d", i), "")
	}
	eventually.True(t, 5*time.Second, "c's copy of a", func() bool { return sameCopy(a, c) })
	a.mu.Lock()
	epoch, seq := a.epoch, a.seq
	a.mu.Unlock()
	before := counters.PresenceResyncs()
	msgs := [][]byte{
		appendHeader(nil, header{kind: kindDelta, node: "a", epoch: epoch, seq: 1 << 62, count: 1 << 40}), // a beat far ahead
		forgedDelta("a", epoch, seq+1, change{prefix: prefix, id: "s1"}),                                  // the next number, a leave
		forgedDelta("a", epoch-1, seq+1, change{join: true, prefix: prefix, id: "old", at: 1}),            // an earlier process
		forgedDelta("a", epoch, ^uint64(0), change{join: true, prefix: prefix, id: "wrap", at: 1}),        // the last number there is
	}
	for _, m := range msgs {
		forge(t, nc, bus.PresenceDeltaSubject, m)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	a.Join(lobby, "later", "")
	eventually.True(t, 4*ttl+2*syncWait, "c's copy of a back to a's", func() bool { return sameCopy(a, c) })
	resyncs := counters.PresenceResyncs() - before
	t.Logf("%d forged messages, %d snapshots asked for", len(msgs), resyncs)
	if resyncs > uint64(len(msgs)) {
		t.Fatalf("%d snapshots asked for after %d forged messages, want at most one each", resyncs, len(msgs))
	}
}

// TestGarbageOnPresenceSubjects: random bytes, and cut and bit-flipped
// real messages, on every presence subject a node listens on neither
// crash nor block it: each is dropped (counted where it is a node's
// message) and the node goes on taking in the real node's changes.
func TestGarbageOnPresenceSubjects(t *testing.T) {
	b, nc := forger(t)
	const ttl = 2 * time.Second
	counters := &metrics.Set{}
	a := open(t, b, "a", ttl)
	c := openWith(t, b, Config{Node: "c", TTL: ttl, Metrics: counters})
	defer func() { _ = a.Close(context.Background()) }()
	defer func() { _ = c.Close(context.Background()) }()
	lobby := Where{Kind: KindIO, Scope: "/chat", Room: "lobby"}
	a.Join(lobby, "s1", "")
	eventually.True(t, 5*time.Second, "c's copy of a", func() bool { return sameCopy(a, c) })
	real := forgedDelta("a", 1, 7, change{join: true, prefix: lobby.mustPrefix(t), id: "x", user: "u", at: 3})
	rng := rand.New(rand.NewPCG(3, 4))
	subjects := []string{bus.PresenceDeltaSubject, bus.PresenceSnapSubject("c"), bus.PresenceSyncSubject("c"), bus.PresenceHelloSubject}
	const each = 2000
	for i := range each * len(subjects) {
		var data []byte
		switch i % 3 {
		case 0:
			data = make([]byte, rng.IntN(256))
			for j := range data {
				data[j] = byte(rng.UintN(256))
			}
		case 1:
			data = real[:rng.IntN(len(real))]
		default:
			data = append([]byte(nil), real...)
			data[rng.IntN(len(data))] ^= byte(1 + rng.UintN(255))
		}
		forge(t, nc, subjects[i%len(subjects)], data)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	a.Join(lobby, "s2", "")
	eventually.True(t, 4*ttl+syncWait, "c's copy of a after the garbage", func() bool {
		return sameCopy(a, c) && len(ids(t, c, lobby)) == 2
	})
	t.Logf("%d of %d garbage messages on the delta subject counted as dropped", counters.PresenceRejections(), each)
	if counters.PresenceRejections() == 0 {
		t.Fatal("no drop counted")
	}
}

// TestCopyAheadOfItsOwnerResyncs: a snapshot in a real node's name, made
// up by a NATS client that read the request id on the request subject,
// puts the other node's copy at a number far past the real node's. The
// real node's later deltas look already applied; its beats, behind the
// copy twice in a row, make the other node ask again, and the copy comes
// back to the real node's memberships, its later join included.
func TestCopyAheadOfItsOwnerResyncs(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	const ttl = time.Second
	a, c := open(t, b, "a", ttl), open(t, b, "c", ttl)
	defer func() { _ = a.Close(context.Background()) }()
	defer func() { _ = c.Close(context.Background()) }()
	lobby := Where{Kind: KindIO, Scope: "/chat", Room: "lobby"}
	a.Join(lobby, "s1", "")
	eventually.True(t, 5*time.Second, "c's copy of a", func() bool { return sameCopy(a, c) })
	c.mu.Lock()
	req := c.resyncLocked("a", c.peers["a"], time.Now()).req // asked, as far as the forger knows
	c.mu.Unlock()
	forged := appendHeader(nil, header{kind: kindSnap, node: "a", epoch: a.epoch, seq: 1 << 62, req: req, last: true})
	c.snapped(&bus.Msg{Data: forged})
	c.mu.Lock()
	ahead := c.peers["a"].seq == 1<<62
	c.mu.Unlock()
	if !ahead {
		t.Fatal("the made-up snapshot was not taken in: the test shows nothing")
	}
	a.Join(lobby, "later", "")
	eventually.True(t, 4*ttl+syncWait, "c's copy of a back to a's", func() bool {
		return sameCopy(a, c) && len(ids(t, c, lobby)) == 2
	})
}

// FuzzPeerMessages: any run of messages (each a uvarint length and the
// bytes) taken in as deltas, beats and snapshot chunks of other nodes
// never panics and keeps the copies' invariants: each peer's count is its
// lists' size, the buffered bytes are accounted and bounded, the nodes
// kept are at most MaxNodes.
func FuzzPeerMessages(f *testing.F) {
	join := change{join: true, prefix: "io.chat.lobby.", id: "s1", user: "u", at: 5}
	var seed []byte
	for _, m := range [][]byte{
		forgedDelta("a", 1, 1, join),
		forgedDelta("a", 1, 3, join, change{prefix: "io.chat.lobby.", id: "s1"}),
		appendHeader(nil, header{kind: kindDelta, node: "a", epoch: 1, seq: 9, count: 4}),
		appendChange(appendHeader(nil, header{kind: kindSnap, node: "a", epoch: 1, seq: 2, count: 1, req: 1, last: true}), join),
		forgedDelta("b", 2, 1, join),
	} {
		seed = appendString(seed, string(m))
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &Registry{cfg: Config{MaxNodes: 4}.withDefaults(), node: "c", epoch: 1, owned: newOwned(),
			peers: map[string]*peer{}, graves: map[string]*grave{}, told: map[string]told{}}
		now := time.Now()
		in := reader{b: data}
		for len(in.b) > 0 && in.err == nil {
			m := in.raw()
			rd := reader{b: m}
			h := rd.header()
			if rd.err != nil {
				continue
			}
			r.mu.Lock()
			switch h.kind {
			case kindDelta:
				r.fromPeerLocked(h, rd.b, now)
			case kindSnap: // as snapped does for a chunk it asked for
				if p := r.peers[h.node]; p != nil && p.epoch == h.epoch && h.req == p.req && h.part == p.parts {
					if p.parts == 0 {
						p.snap, p.snapN = map[string]map[string]remote{}, 0
					}
					p.apply(p.snap, &p.snapN, rd.b)
					if p.parts++; h.last {
						r.installLocked(h.node, p, h.seq, now)
					}
				}
			}
			r.mu.Unlock()
		}
		buffered := 0
		for node, p := range r.peers {
			n := 0
			for _, list := range p.lists {
				n += len(list)
			}
			if uint64(n) != p.count {
				t.Fatalf("%s: count %d, lists hold %d", node, p.count, n)
			}
			buffered += p.bufBytes
		}
		if buffered != r.bufBytes || r.bufBytes > maxBufBytes || len(r.peers) >= r.cfg.MaxNodes {
			t.Fatalf("buffered %d (accounted %d), %d nodes kept", buffered, r.bufBytes, len(r.peers))
		}
	})
}

// TestRestartWithClockSetBack: a node restarts under the same name with a
// clock set back, so its new epoch is below the former process's. The
// former process has stopped: once it has missed two beats, the new one's
// messages are taken as the node's, within the TTL, not after the former
// process is buried for a TTL of silence.
func TestRestartWithClockSetBack(t *testing.T) {
	b, nc := forger(t)
	const ttl = 8 * time.Second
	a := open(t, b, "a", ttl)
	defer func() { _ = a.Close(context.Background()) }()
	lobby := Where{Kind: KindIO, Scope: "/chat", Room: "lobby"}
	// The former process, its clock an hour ahead: a member, then silence.
	former := uint64(time.Now().Add(time.Hour).UnixNano())
	forge(t, nc, bus.PresenceDeltaSubject, forgedDelta("c", former, 1, change{join: true, prefix: lobby.mustPrefix(t), id: "old", at: 1}))
	eventually.True(t, 5*time.Second, "a lists the former process's member", func() bool {
		got := ids(t, a, lobby)
		return len(got) == 1 && got[0] == "old"
	})
	stopped := time.Now()
	c := open(t, b, "c", ttl)
	defer func() { _ = c.Close(context.Background()) }()
	c.Join(lobby, "new", "")
	eventually.True(t, 2*ttl, "a lists the new process's member only", func() bool {
		got := ids(t, a, lobby)
		return len(got) == 1 && got[0] == "new"
	})
	took := time.Since(stopped)
	t.Logf("the new process's member listed %v after the former process stopped (TTL %v)", took, ttl)
	if took >= ttl {
		t.Fatalf("listed after %v: want within the TTL (%v)", took, ttl)
	}
}

// TestSnapshotOnlyToPresenceSubjects: a snapshot request whose reply is
// not a node's snap subject (any subject the asker likes) is dropped: a
// NATS client cannot have a node publish its memberships there.
func TestSnapshotOnlyToPresenceSubjects(t *testing.T) {
	b, nc := forger(t)
	counters := &metrics.Set{}
	a := openWith(t, b, Config{Node: "a", TTL: 10 * time.Second, Metrics: counters})
	defer func() { _ = a.Close(context.Background()) }()
	a.Join(Where{Kind: KindIO, Scope: "/chat", Room: "lobby"}, "s1", "")
	elsewhere, err := nc.SubscribeSync("elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	answer, err := nc.SubscribeSync(bus.PresenceSnapSubject("zz"))
	if err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{bus.PresenceHelloSubject, bus.PresenceSyncSubject("a")} {
		if err := nc.PublishRequest(subject, "elsewhere", []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	// Answered in order: once this one is answered, the others would have been.
	if err := nc.PublishRequest(bus.PresenceSyncSubject("a"), bus.PresenceSnapSubject("zz"), []byte{2}); err != nil {
		t.Fatal(err)
	}
	if _, err := answer.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("no answer on a snap subject: %v", err)
	}
	if m, err := elsewhere.NextMsg(10 * time.Millisecond); err == nil {
		t.Fatalf("a snapshot published on %s", m.Subject)
	}
	if n := counters.PresenceRejections(); n != 2 {
		t.Fatalf("%d drops counted, want 2", n)
	}
}
