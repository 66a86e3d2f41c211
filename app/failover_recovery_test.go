package app

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
)

// TestRecoveryOnAnotherNodeMissesNoAckedEvent: three nodes in one
// process, the namespace's stream on all three (replicas 3), a sender on
// node 0 emitting numbered events with acks every few milliseconds. A
// client hops from node to node: it drops its connection and recovers its
// session on the next node with the offset of the last event it got. Every
// node already holds the namespace (a bystander each), so it has delivered
// events live before the client is added; the replay must reach at least
// the newest of them even when the replica that answers its reads has not
// applied them yet (a follower learns of a commit after the leader
// republished it). Every acked event from the client's first on must reach
// it, whatever node it was on.
func TestRecoveryOnAnotherNodeMissesNoAckedEvent(t *testing.T) {
	servers := startCluster(t, 3, func(c *config) {
		c.OwnNamespaces = []string{failNsp}
		c.MaxEventsPerSecond, c.MaxEventsPerAddress = 0, 0
	})
	for _, s := range servers {
		b, err := dialPeer(s.addr, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.connect("{}"); err != nil {
			t.Fatal(err)
		}
		defer b.close()
	}

	log := newAckLog()
	sender, err := dialPeer(servers[0].addr, nil, log.acked)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.close()
	if _, _, err := sender.connect("{}"); err != nil {
		t.Fatal(err)
	}

	// Each connection records what it got; only those of the session
	// count (a fresh session refused below may have got events too).
	var conns []*recorder
	count := func() int {
		n := 0
		for _, r := range conns {
			n += r.len()
		}
		return n
	}

	stop := make(chan struct{})
	var sent []int64
	var next atomic.Int64
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		sent = pace(sender, log, func() int64 { return next.Add(1) }, 5*time.Millisecond, stop)
	}()
	stopped := false
	stopSending := func() {
		if !stopped {
			stopped = true
			close(stop)
			<-sending
		}
	}
	defer stopSending()

	const hops = 24
	var pid string
	var client *sioPeer
	recovered := 0
	for hop := 0; hop <= hops; hop++ {
		node := servers[hop%3]
		for try := 0; ; try++ {
			rec := &recorder{}
			c, err := dialPeer(node.addr, rec.event, nil)
			if err != nil {
				t.Fatal(err)
			}
			auth := "{}"
			if pid != "" {
				auth = fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, conns[len(conns)-1].lastOffset())
			}
			_, p, err := c.connect(auth)
			if err != nil {
				c.close()
				t.Fatalf("hop %d: %v", hop, err)
			}
			if pid == "" || p == pid {
				pid, client = p, c
				conns = append(conns, rec)
				if hop > 0 {
					recovered++
				}
				break
			}
			// A fresh session: the old socket was still connected
			// somewhere (its node had not seen the drop yet). Drop this
			// one and ask again.
			c.close()
			if try == 20 {
				t.Fatalf("hop %d: no recovery after %d tries", hop, try)
			}
			time.Sleep(50 * time.Millisecond) // a pause between retries, not a synchronisation
		}
		if hop == hops {
			break
		}
		want := count() + 3
		eventually.True(t, 10*time.Second, "events on the hopping client", func() bool { return count() >= want })
		client.close() // transport close: recoverable
	}
	defer client.close()

	stopSending()
	eventually.True(t, 30*time.Second, "every event answered", func() bool { return log.unanswered(sent) == 0 })
	var acked []int64
	log.mu.Lock()
	for v := range log.ok {
		acked = append(acked, v)
	}
	log.mu.Unlock()
	slices.Sort(acked)
	got := func() map[int64]int {
		m := map[int64]int{}
		for _, r := range conns {
			for _, v := range r.values() {
				m[v]++
			}
		}
		return m
	}
	first := conns[0].values()[0]
	missing := func() []int64 {
		g := got()
		var out []int64
		for _, v := range acked {
			if v >= first && g[v] == 0 {
				out = append(out, v)
			}
		}
		return out
	}
	// The last acked events may still be on their way to the client.
	_ = eventually.Within(10*time.Second, func() bool { return len(missing()) == 0 })
	if m := missing(); len(m) > 0 {
		t.Fatalf("%d acked events never reached the client that hopped %d times (%d recoveries): %v", len(m), hops, recovered, m)
	}
	for v, n := range got() {
		if n > 1 {
			var where []string
			for i, r := range conns {
				for j, x := range r.values() {
					if x == v {
						where = append(where, fmt.Sprintf("connection %d (#%d, offset %s)", i, j, r.offsetOf(j)))
					}
				}
			}
			t.Errorf("event %d received %d times: %v", v, n, where)
		}
	}
	t.Logf("%d events acked, %d recoveries, none missing", len(acked), recovered)
}

// recorder keeps the values and the last offset one connection received.
type recorder struct {
	mu   sync.Mutex
	vals []int64
	offs []string
	off  string
}

func (r *recorder) event(v int64, off string) {
	r.mu.Lock()
	r.vals, r.offs, r.off = append(r.vals, v), append(r.offs, off), off
	r.mu.Unlock()
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.vals)
}

func (r *recorder) values() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.vals)
}

func (r *recorder) lastOffset() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.off
}

func (r *recorder) offsetOf(i int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.offs[i]
}
