package bustest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/bus/internal/testhook"
	"github.com/sockbus/sockbus/internal/loopback"
	"github.com/sockbus/sockbus/internal/testutil"
)

// LoseConn closes b's own NATS connection for good, as nats.go does once
// it gives up reconnecting: what a node that lost its bus sees.
func LoseConn(b *bus.Bus) { testhook.CloseConn(b) }

// StartSlow starts a two-node cluster and returns its first node, on
// which every subscription takes about a second, as in a cluster whose
// routes are slow: a NATS client that listens on the bus's confirmation
// subject and never answers is a node that never confirms. Callers should
// check that a subscription really was slow (SlowSubscribe), so a changed
// subject fails loudly instead of making the bus fast.
func StartSlow(t testing.TB) *bus.Bus {
	t.Helper()
	routes := loopback.FreeAddrs(t, 2)
	var nodes [2]*bus.Bus
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() { // a JetStream cluster needs its quorum: start together
			defer wg.Done()
			cfg := bus.Config{Cluster: bus.ClusterConfig{Name: "slow", Listen: routes[i],
				Routes: []string{"nats-route://" + routes[1-i]}, NodeName: fmt.Sprintf("slow%d", i)}}
			if i == 0 {
				cfg.NATSAddr = "127.0.0.1:0"
			}
			nodes[i] = testutil.StartBus(t, cfg)
		}()
	}
	wg.Wait()
	if nodes[0] == nil || nodes[1] == nil {
		t.FailNow()
	}
	b := nodes[0]
	// A NATS client on the bus's confirmation subject (which clustered
	// buses ask every node on after each subscription, and wait up to a
	// second for the answers) that never answers.
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := nc.SubscribeSync(testhook.SyncSubject); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return b
}

// SlowSubscribe is how long a subscription on a StartSlow bus takes at
// least.
const SlowSubscribe = 900 * time.Millisecond
