package presence

import (
	"time"

	"github.com/sockbus/sockbus/bus"
)

// nodes is what this node knows of the others' lives (guarded by
// Registry.mu). A node is alive while its beats (or heartbeat writes) keep
// coming, TTL apart at most; but nobody is declared dead while this node's
// own beats do not come back to it, since then it is the one cut off.
type nodes struct {
	started   time.Time            // a node never heard from counts from here
	seen      map[string]time.Time // each other node's last sign of life
	buried    map[string]bool      // dead nodes whose heartbeat key the sweeper removed
	selfLast  time.Time            // this node's last beat heard back
	selfSince time.Time            // own beats heard without a gap since
}

func newNodes() nodes {
	return nodes{seen: map[string]time.Time{}, buried: map[string]bool{}}
}

// beatEvery is how often a node beats: four times per TTL, so a node
// whose beat or two is late is not taken for dead.
func (r *Registry) beatEvery() time.Duration { return max(r.cfg.TTL/4, 5*time.Millisecond) }

// pulse publishes this node's beats.
func (r *Registry) pulse() {
	defer r.wg.Done()
	t := time.NewTicker(r.beatEvery())
	defer t.Stop()
	for {
		r.beat()
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Registry) beat() {
	if err := r.b.PublishLive(&bus.Msg{Subject: bus.PresenceBeatSubject, Data: []byte(r.node)}); err != nil && r.ctx.Err() == nil {
		r.warn.Warn("failed to publish presence beat", "err", err)
	}
}

// heard takes a beat in.
func (r *Registry) heard(m *bus.Msg) {
	node := string(m.Data)
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if node != r.node {
		r.sawLocked(node, now)
		return
	}
	if r.selfLast.IsZero() || now.Sub(r.selfLast) > 2*r.beatEvery() {
		r.selfSince = now // the first beat back after a gap
	}
	r.selfLast = now
}

func (r *Registry) sawLocked(node string, at time.Time) {
	if at.After(r.seen[node]) {
		r.seen[node] = at
	}
	delete(r.buried, node)
}

// trustLocked: this node hears its own beats, and has for a TTL, so a
// node it has not heard from for a TTL is dead rather than unheard.
func (r *Registry) trustLocked(now time.Time) bool {
	return !r.selfLast.IsZero() && now.Sub(r.selfLast) <= 2*r.beatEvery() && now.Sub(r.selfSince) >= r.cfg.TTL
}

// aliveLocked reports whether node's members count: this node's always,
// another's until it has been silent for a TTL.
func (r *Registry) aliveLocked(node string, now time.Time) bool {
	if node == r.node || !r.trustLocked(now) {
		return true
	}
	last, ok := r.seen[node]
	if !ok { // never heard: perhaps a node that died while nobody watched
		last = r.started
	}
	return now.Sub(last) < r.cfg.TTL
}

func (r *Registry) alive(node string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.aliveLocked(node, time.Now())
}

// sweeperLocked reports whether this node sweeps: the live node with the
// smallest name that it knows of. When that one dies, the next one in
// line finds itself the sweeper by the same rule.
func (r *Registry) sweeperLocked(now time.Time) bool {
	if !r.trustLocked(now) {
		return false
	}
	for node := range r.seen {
		if node < r.node && r.aliveLocked(node, now) {
			return false
		}
	}
	return true
}
