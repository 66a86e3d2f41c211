package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/loopback"
)

// TestWebhookQueueLeaderChangeIsMoving: a webhook queue whose leader
// changes while a node waits on it (a peer stopping in a rolling restart
// hands its consumers over) answers ErrWebhookQueueMoving, which the
// deliverer asks again after without a warning, not a fetch failure.
func TestWebhookQueueLeaderChangeIsMoving(t *testing.T) {
	if testing.Short() {
		t.Skip("a two-node JetStream cluster")
	}
	routes := loopback.FreeAddrs(t, 2)
	nodes := make([]*Bus, 2)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			b, err := Start(context.Background(), Config{DataDir: t.TempDir(), Replicas: 2,
				Webhooks: WebhookConfig{Receivers: []string{"r"}, Partitions: 1},
				Cluster: ClusterConfig{Name: "moving", Listen: routes[i], NodeName: fmt.Sprintf("n%d", i),
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
	a := nodes[0]
	q, err := a.WebhookQueue("r", 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan error, 1)
	go func() {
		_, err := q.Next(ctx)
		got <- err
	}()
	c := a.webhooks.queues[webhookConsumer("r", 0)]
	eventually.True(t, 10*time.Second, "the fetch waiting on the queue", func() bool {
		info, err := c.Info(ctx)
		return err == nil && info.NumWaiting > 0
	})
	name := c.CachedInfo()
	if _, err := a.nc.Request(fmt.Sprintf("$JS.API.CONSUMER.LEADER.STEPDOWN.%s.%s", name.Stream, name.Name), nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if !errors.Is(err, ErrWebhookQueueMoving) {
			t.Fatalf("Next across a leader change: %v, want ErrWebhookQueueMoving", err)
		}
	case <-ctx.Done():
		t.Fatal("Next did not return after the queue's leader changed")
	}
}
