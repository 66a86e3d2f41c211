package bus

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/loopback"
)

// TestSenderKeepsOrderThroughRouteDrop: in a three-server NATS cluster whose
// routes all pass through TCP proxies, an edge publishes to a stream led by
// another server; the routes into the leader's server swallow five of a
// sender's publishes, then drop and come back (nats-server redials after
// 1 s) while the stream keeps its leader and the edge its connection. The
// fifteen the sender publishes once the routes are back are stored after
// the five's resends, each once: they were held back because the first of
// the five went unanswered for holdAfter.
func TestSenderKeepsOrderThroughRouteDrop(t *testing.T) {
	addrs := loopback.FreeAddrs(t, 3)
	var proxies []*cutProxy
	for _, a := range addrs {
		proxies = append(proxies, startCutProxy(t, a))
	}
	var reach []string
	for _, p := range proxies {
		reach = append(reach, p.ln.Addr().String())
	}
	servers := startExtCluster(t, addrs, reach)
	a := startExternalBus(t, servers[0].ClientURL(), func(c *Config) { c.ReadyTimeout = time.Minute })
	ctx := context.Background()
	subject := ChannelSubject("order")
	st0, err := a.js.Stream(ctx, streamOf(t, a, subject).Name)
	if err != nil {
		t.Fatal(err)
	}
	info := st0.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatalf("stream %s has no leader: %+v", info.Config.Name, info.Cluster)
	}
	leader, _ := strconv.Atoi(strings.TrimPrefix(info.Cluster.Leader, "ext"))
	pub := (leader + 1) % 3
	b := startExternalBus(t, servers[pub].ClientURL(), func(c *Config) { c.ReadyTimeout = time.Minute })
	cfg := streamOf(t, b, subject)
	const before, lost, during = 10, 5, 15
	const n = before + lost + during
	publish, wait := orderedPublisher(t, b, subject, n)
	for i := range before {
		publish(i)
	}
	wait(before)
	r0, rl := servers[pub].NumRoutes(), servers[leader].NumRoutes()
	proxies[leader].swallow()
	for i := before; i < before+lost; i++ {
		publish(i)
	}
	last := []byte(eventData(before + lost - 1))
	eventually.True(t, 10*time.Second, "the lost publishes are on the route", func() bool { return proxies[leader].holds(last) })
	proxies[leader].sever()
	eventually.True(t, 10*time.Second, "the routes drop", func() bool { return servers[pub].NumRoutes() < r0 })
	eventually.True(t, 10*time.Second, "the routes are back", func() bool {
		return servers[pub].NumRoutes() == r0 && servers[leader].NumRoutes() == rl
	})
	for i := before + lost; i < n; i++ {
		publish(i)
	}
	wait(lost + during)
	storedInOrder(t, b, cfg.Name, n, eventData)
}
