package testutil

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/bus"
)

// syncSubject is the subject a clustered bus asks every node on, after
// each subscription, to confirm that the subscription has reached it
// (bus.Subscribe waits for the answers, up to a second).
const syncSubject = "_SOCKBUS.sync"

// StartSlowBus starts a two-node cluster and returns its first node, on
// which every subscription takes about a second, as in a cluster whose
// routes are slow: a NATS client that listens on the bus's confirmation
// subject and never answers is a node that never confirms. Callers should
// check that a subscription really was slow (SlowSubscribe), so a changed
// subject fails loudly instead of making the bus fast.
func StartSlowBus(t testing.TB) *bus.Bus {
	t.Helper()
	var routes [2]string
	for i := range routes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		routes[i] = ln.Addr().String()
		ln.Close()
	}
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
			nodes[i] = StartBus(t, cfg)
		}()
	}
	wg.Wait()
	if nodes[0] == nil || nodes[1] == nil {
		t.FailNow()
	}
	b := nodes[0]
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := nc.SubscribeSync(syncSubject); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return b
}

// SlowSubscribe is how long a subscription on a StartSlowBus bus takes at
// least.
const SlowSubscribe = 900 * time.Millisecond
