package scenario

import (
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bench/internal/gwsrelay"
)

// relayCluster serves one in-process bare relay on three listeners, the
// "nodes"; Kill(i) closes listener i and every connection it accepted, as
// a SIGKILL of that node would.
func relayCluster(t *testing.T) Target {
	t.Helper()
	relay := gwsrelay.New(gwsrelay.Config{})
	t.Cleanup(relay.Close)
	type node struct {
		srv   *http.Server
		mu    sync.Mutex
		conns []net.Conn
	}
	nodes := make([]*node, 3)
	tg := Target{Kind: KindGWS, PID: os.Getpid()}
	for i := range nodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		n := &node{}
		n.srv = &http.Server{Handler: relay, ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				n.mu.Lock()
				n.conns = append(n.conns, c)
				n.mu.Unlock()
			}
		}}
		nodes[i] = n
		go func() { _ = n.srv.Serve(ln) }()
		t.Cleanup(func() { _ = n.srv.Close() })
		tg.Nodes = append(tg.Nodes, "http://"+ln.Addr().String())
	}
	tg.URL = tg.Nodes[0]
	tg.Kill = func(i int) error {
		n := nodes[i]
		err := n.srv.Close()
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, c := range n.conns {
			_ = c.Close()
		}
		return err
	}
	return tg
}

// The node loss against the relay "cluster": the killed node's clients
// come back on the others, every acknowledged event is counted, and the
// clients that stayed lose nothing (the relay itself is alive).
func TestKillMovesTheKilledNodesClients(t *testing.T) {
	tg := relayCluster(t)
	r, err := Kill(ctxFor(t), tg, KillConfig{Name: "k", Receivers: 12, Rate: 100,
		Before: 300 * time.Millisecond, After: 700 * time.Millisecond, Drain: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r.Metrics, r.Notes)
	m := r.Metrics
	if m["k.clients_moved"] != 4 { // receivers 2, 5, 8, 11 were on node 2
		t.Errorf("clients moved = %v, want 4", m["k.clients_moved"])
	}
	if m["k.events_acked"] != m["k.events_sent"] || m["k.events_sent"] < 90 {
		t.Errorf("acked %v of %v sent", m["k.events_acked"], m["k.events_sent"])
	}
	if m["k.lost_stayed"] != 0 {
		t.Errorf("clients on live nodes lost %v events", m["k.lost_stayed"])
	}
	if _, ok := m["k.ms_to_99pct_back"]; !ok {
		t.Error("no time to 99% back")
	}
	if m["k.new_sessions"] != 4 {
		t.Errorf("new sessions = %v, want 4 (the relay keeps none)", m["k.new_sessions"])
	}
	if m["k.recovered_pct"] != 0 {
		t.Errorf("recovered %v%% on a relay without sessions", m["k.recovered_pct"])
	}
}

func TestSmokeCluster(t *testing.T) {
	tg := relayCluster(t)
	r, err := Cluster(ctxFor(t), tg, ClusterConfig{Receivers: 9, Rate: 50, Window: 8,
		Warmup: 100 * time.Millisecond, Measure: 300 * time.Millisecond, AckConns: 3,
		KillBefore: 200 * time.Millisecond, KillAfter: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, r, "cfan50.cpu_us_per_delivery", "cfansat.deliveries_per_s", "cacks.acks_per_s",
		"cacks.cpu_us_per_ack", "ckill.lost_total", "ckill.ms_to_99pct_back")
}
