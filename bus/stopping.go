package bus

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// A whole cluster stopped at once (every node sent SIGTERM together) must
// not lose the writes its nodes make while they close their clients (the
// sessions that let those clients recover, their last events): a node that
// shuts its NATS server down takes a replica away, and with it the quorum
// its peers need to store anything. So each node of a cluster says when it
// starts stopping and when its bus is drained, and shuts its server down
// only once every peer that said it is stopping is drained too (bounded by
// the shutdown's budget). A rolling restart, where the peers stay up, waits
// for nobody.

// Subjects of the departure messages; the payload is the node's name.
const (
	stoppingSubject = internalPrefix + "node.stopping"
	drainedSubject  = internalPrefix + "node.drained"
)

// departures follows the peers that are stopping; the zero value is off.
type departures struct {
	self string
	conn *nats.Conn // the history reads' connection: it outlives the drain

	mu      sync.Mutex
	peers   map[string]bool // said stopping, not yet drained
	changed chan struct{}   // closed at every change
}

// followDepartures subscribes to the peers' departure messages (an
// embedded, clustered server only: an external NATS does not stop with us).
func (b *Bus) followDepartures() error {
	if b.ns == nil || b.cfg.Cluster.Name == "" {
		return nil
	}
	d := &departures{self: b.cfg.Cluster.NodeName, conn: b.rc, peers: map[string]bool{}, changed: make(chan struct{})}
	for subject, stopping := range map[string]bool{stoppingSubject: true, drainedSubject: false} {
		if _, err := b.rc.Subscribe(subject, func(m *nats.Msg) { d.note(string(m.Data), stopping) }); err != nil {
			return fmt.Errorf("failed to subscribe to %s: %w", subject, err)
		}
	}
	if err := b.rc.Flush(); err != nil {
		return fmt.Errorf("failed to subscribe to departures: %w", err)
	}
	b.departures = d
	return nil
}

func (d *departures) note(node string, stopping bool) {
	if node == d.self || node == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.peers[node] == stopping {
		return
	}
	if stopping {
		d.peers[node] = true
	} else {
		delete(d.peers, node)
	}
	close(d.changed)
	d.changed = make(chan struct{})
}

// say tells the peers this node is stopping or drained.
func (d *departures) say(subject string) {
	_ = d.conn.Publish(subject, []byte(d.self))
	_ = d.conn.Flush()
}

// stoppingPeers is how many peers said they are stopping and are not
// drained yet.
func (d *departures) stoppingPeers() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.peers)
}

// wait returns once no peer is stopping, or at ctx's end.
func (d *departures) wait(ctx context.Context) bool {
	for {
		d.mu.Lock()
		n, changed := len(d.peers), d.changed
		d.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// Stopping tells the cluster's other nodes this one is shutting down, so
// that they keep their servers up until it is drained (see departures). It
// is the first step of a node's shutdown; without a cluster it does
// nothing.
func (b *Bus) Stopping() {
	if b.departures != nil {
		b.departures.say(stoppingSubject)
	}
}

// drained says this node's bus is drained, then waits (within ctx, and
// at most maxDepartureWait) for the peers that are stopping too.
func (b *Bus) drained(ctx context.Context) {
	d := b.departures
	if d == nil {
		return
	}
	d.say(drainedSubject)
	wctx, cancel := context.WithTimeout(ctx, maxDepartureWait)
	defer cancel()
	began := time.Now()
	if d.wait(wctx) {
		if time.Since(began) > 10*time.Millisecond {
			b.log.Info("waited for stopping peers to drain", "took", time.Since(began).Round(time.Millisecond))
		}
		return
	}
	b.log.Warn("stopping peers not drained in time: stopping this node's NATS anyway", "peers", d.stoppingPeers())
}

// maxDepartureWait bounds the wait for stopping peers (a peer that said it
// is stopping may have been killed since).
const maxDepartureWait = 10 * time.Second
