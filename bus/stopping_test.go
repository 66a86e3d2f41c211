package bus

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/loopback"
)

// TestWholeClusterStopKeepsQuorum: two nodes with every stream on both
// (replicas 2) stop at once. Node A is drained first; it keeps its NATS
// server up until node B, which said it is stopping too, is drained, so
// the event B stores on its way out still finds its quorum. Without the
// wait, A's server is gone and B's publish is never stored.
func TestWholeClusterStopKeepsQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("a two-node JetStream cluster")
	}
	routes := loopback.FreeAddrs(t, 2)
	nodes := make([]*Bus, 2)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			b, err := Start(context.Background(), Config{DataDir: t.TempDir(), Replicas: 2,
				Cluster: ClusterConfig{Name: "stop", Listen: routes[i], NodeName: fmt.Sprintf("n%d", i),
					Routes: []string{"nats-route://" + routes[0], "nats-route://" + routes[1]}}})
			if err != nil {
				t.Error(err)
				return
			}
			nodes[i] = b
		})
	}
	wg.Wait()
	for _, b := range nodes {
		if b == nil {
			t.FailNow()
		}
		t.Cleanup(func() { _ = b.Close(context.Background()) })
	}
	a, b := nodes[0], nodes[1]
	a.Stopping()
	b.Stopping()
	eventually.True(t, 10*time.Second, "each node hears the other is stopping", func() bool {
		return a.departures.stoppingPeers() == 1 && b.departures.stoppingPeers() == 1
	})
	closedA := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		closedA <- a.Close(ctx)
	}()
	select {
	case err := <-closedA:
		t.Fatalf("node A stopped (%v) while node B, stopping too, was not drained", err)
	case <-time.After(300 * time.Millisecond): // A's drain is over in milliseconds; it must be waiting
	}
	storeWait(t, b, &Msg{Subject: ChannelSubject("last"), Data: []byte("bye")}, "node B's last event (its quorum gone with node A?)")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatalf("node B: %v", err)
	}
	if err := receive(t, closedA, "node A still waiting after node B was drained"); err != nil {
		t.Fatalf("node A: %v", err)
	}
}
