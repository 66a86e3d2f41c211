package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
)

// TestWebhookClusterStopsQuickly: a three-node cluster with webhooks to a
// receiver that holds every POST open (each node has deliveries in flight
// and fetches waiting) and twelve sockets still connected is stopped as a
// whole, all nodes at once: every run returns nil well within
// --shutdown-timeout. The events held were not acked and the sockets'
// disconnects were stored: started again on the same data dirs, with the
// receiver answering, the cluster delivers every event once. (Without the
// quorum barrier of bus.Stopping, 1 run in 2 had the last node wait out
// the 10 s and lose its disconnects.)
func TestWebhookClusterStopsQuickly(t *testing.T) {
	var holding atomic.Bool
	holding.Store(true)
	r := newReceiver(t, func(int) int {
		if holding.Load() {
			return -1
		}
		return 0
	})
	const budget = 10 * time.Second
	dirs := map[string]string{}
	for i := range 3 {
		dirs[fmt.Sprintf("node-%d", i)] = t.TempDir()
	}
	onDirs := func(c *config) { c.DataDir, c.ShutdownTimeout = dirs[c.NodeName], budget }
	servers := startCluster(t, 3, webhookTo(r.url), onDirs)
	const want = 3 * 4 * 3 // per node: 4 sockets' connect, event, disconnect
	var clients []*siotest.Client
	for _, s := range servers {
		c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
		for i := range 4 { // a few namespaces: events in several partitions
			nsp := fmt.Sprintf("/n%d", i)
			c.ConnectID(t, nsp, "")
			c.Send(t, siotest.Event(nsp, 1, "tick", "1"))
			ack := fmt.Sprintf("3%s,1[", nsp)
			if p := c.NextText(t, 10*time.Second); !strings.HasPrefix(p, ack) { // stored: nothing in flight at the stop
				t.Fatalf("got %s, want the ack of the stored tick", p)
			}
		}
		clients = append(clients, c) // connected at the stop: their disconnects are published then
	}
	// Every event stored; the receiver holds the POSTs of several queues.
	eventually.True(t, 20*time.Second, "the backlog stored and POSTs held", func() bool {
		msgs, _, err := servers[0].bus.WebhookBacklog(context.Background())
		r.mu.Lock()
		defer r.mu.Unlock()
		return err == nil && msgs == uint64(want-4*len(clients)) && r.requests >= 3
	})
	t0 := time.Now()
	for _, s := range servers {
		s.cancel()
	}
	for i, s := range servers {
		select {
		case err := <-s.done:
			took := time.Since(t0)
			t.Logf("node %d stopped in %v", i, took.Round(time.Millisecond))
			if err != nil {
				t.Errorf("node %d: run returned %v", i, err)
			}
			if took > budget/2 {
				t.Errorf("node %d took %v to stop, want well within --shutdown-timeout %v", i, took, budget)
			}
		case <-time.After(2 * budget):
			t.Fatalf("node %d did not stop within %v", i, 2*budget)
		}
		s.cancel = nil
	}
	if n := len(r.events()); n != 0 {
		t.Fatalf("the receiver accepted %d events; it answered none", n)
	}

	holding.Store(false)
	startCluster(t, 3, webhookTo(r.url), onDirs)
	evs := r.waitFor(t, want, 60*time.Second)
	for sid, got := range bySocket(evs) {
		if !slices.Equal(got, []string{"connect", "event:tick[1]", "disconnect"}) {
			t.Errorf("socket %s got %q after the restart", sid, got)
		}
	}
	if len(evs) != want {
		t.Fatalf("%d events after the restart, want %d", len(evs), want)
	}
}
