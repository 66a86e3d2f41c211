package presence

import (
	"time"

	"github.com/sockbus/sockbus/bus"
)

// nodes is what this node knows of its own link to the others (guarded by
// Registry.mu). Another node is alive while its messages keep coming, TTL
// apart at most; but nobody is declared dead while this node's own beats
// do not come back to it, since then it is the one cut off.
type nodes struct {
	started     time.Time
	selfLast    time.Time // this node's last message heard back
	selfSince   time.Time // own messages heard without a gap since
	disconnects uint64    // the bus's count when last looked at
	rejoined    time.Time // when this node last announced its members back (rejoin)
}

// grave is a dead node's members, kept (events on) until they are
// announced as left: by this node if it is the sweeper, else by the
// sweeper (its burial message), or for graveKeep.
type grave struct {
	epoch uint64
	lists map[string]map[string]remote
	died  time.Time
}

// beatEvery is how often a node beats: four times per TTL, so a node
// whose beat or two is late is not taken for dead.
func (r *Registry) beatEvery() time.Duration { return max(r.cfg.TTL/4, 5*time.Millisecond) }

// tickEvery is how often a node looks for dead nodes and due leaves: eight
// times per TTL, so a death shows at most an eighth of a TTL after it.
func (r *Registry) tickEvery() time.Duration { return max(r.cfg.TTL/8, 5*time.Millisecond) }

func (r *Registry) heardSelfLocked(now time.Time) {
	if r.selfLast.IsZero() || now.Sub(r.selfLast) > 2*r.beatEvery() {
		r.selfSince = now // the first beat back after a gap
	}
	r.selfLast = now
}

// trustLocked: this node hears its own beats, and has for a TTL, so a
// node it has not heard from for a TTL is dead rather than unheard.
func (r *Registry) trustLocked(now time.Time) bool {
	return !r.selfLast.IsZero() && now.Sub(r.selfLast) <= 2*r.beatEvery() && now.Sub(r.selfSince) >= r.cfg.TTL
}

// aliveLocked reports whether a peer's members count: until it has been
// silent for a TTL (and always while this node cannot trust its silence).
func (r *Registry) aliveLocked(p *peer, now time.Time) bool {
	return !r.trustLocked(now) || now.Sub(p.seen) < r.cfg.TTL
}

// heldElsewhereLocked reports whether a live node other than this one
// holds id in the list.
func (r *Registry) heldElsewhereLocked(prefix, id string, now time.Time) bool {
	for _, p := range r.peers {
		if _, in := p.lists[prefix][id]; in && r.aliveLocked(p, now) {
			return true
		}
	}
	return false
}

// sweeperLocked reports whether this node announces the dead: the live
// node with the smallest name it knows of. When that one dies, the next
// one in line finds itself the sweeper by the same rule.
func (r *Registry) sweeperLocked(now time.Time) bool {
	if !r.trustLocked(now) {
		return false
	}
	for node, p := range r.peers {
		if node < r.node && r.aliveLocked(p, now) {
			return false
		}
	}
	return true
}

// buryLocked takes a dead node (or a former process of a restarted one)
// out; its members wait in a grave for their left events.
func (r *Registry) buryLocked(node string, p *peer, now time.Time) {
	delete(r.peers, node)
	r.dropBufferedLocked(p)
	if r.cfg.Events && p.count > 0 {
		r.graves[node] = &grave{epoch: p.epoch, lists: p.lists, died: now}
	}
}

// graveKeep bounds how long a non-sweeper keeps a grave: long enough for
// it to become the sweeper (a TTL after the sweeper died) and announce it.
func (r *Registry) graveKeep() time.Duration { return 3 * r.cfg.TTL }

// tick ends due leaves, buries the dead, asks again for snapshots that
// did not come, and resyncs after the bus reconnected: one goroutine per
// node, no timer per socket.
func (r *Registry) tick() {
	defer r.wg.Done()
	t := time.NewTicker(r.tickEvery())
	defer t.Stop()
	r.mu.Lock()
	r.disconnects = r.b.Disconnects()
	r.mu.Unlock()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		r.dueLeaves(now)
		r.sweep(now)
		r.mu.Lock()
		var asks []ask
		for node, p := range r.peers {
			if p.req != 0 && now.Sub(p.reqAt) > syncWait {
				asks = append(asks, r.resyncLocked(node, p, now))
			}
		}
		d := r.b.Disconnects()
		reconnected := d != r.disconnects
		r.disconnects = d
		r.mu.Unlock()
		r.ask(asks)
		if reconnected {
			r.sayHello()
		}
	}
}

// sweep buries the nodes silent for a TTL and, on the sweeper, announces
// their members as left (those no live node holds), then tells the others.
func (r *Registry) sweep(now time.Time) {
	r.mu.Lock()
	left, buried := r.sweepLocked(now)
	r.mu.Unlock()
	r.sendBurials(left, buried)
}

func (r *Registry) sendBurials(left []entry, buried [][]byte) {
	for _, e := range left {
		r.announce(e, "left")
	}
	r.publish(bus.PresenceDeltaSubject, buried)
}

func (r *Registry) sweepLocked(now time.Time) (left []entry, buried [][]byte) {
	if r.trustLocked(now) {
		for node, p := range r.peers {
			if !r.aliveLocked(p, now) {
				r.buryLocked(node, p, now)
			}
		}
	}
	sweeper := r.sweeperLocked(now)
	for node, g := range r.graves {
		switch {
		case sweeper:
			left = r.leftOfLocked(g, left, now)
			buried = append(buried, burial(r, node, g.epoch, false))
			if len(r.told) < r.cfg.MaxNodes { // names made up on NATS are buried too
				r.told[node] = told{epoch: g.epoch, at: now}
			}
			delete(r.graves, node)
		case now.Sub(g.died) > r.graveKeep():
			delete(r.graves, node)
		}
	}
	for node, t := range r.told {
		if now.Sub(t.at) > toldKeep {
			delete(r.told, node)
		}
	}
	return left, buried
}

// told is a node this one announced as dead: if it turns out only cut
// off (its messages come again, same process), it is told so, once, and
// announces its members as joined again.
type told struct {
	epoch uint64
	at    time.Time
}

// toldKeep bounds how long a sweeper remembers whom it announced as dead.
const toldKeep = 10 * time.Minute

// burial is the message naming a dead node; back tells the node itself
// that it was announced as dead and is heard again.
func burial(r *Registry, node string, epoch uint64, back bool) []byte {
	h := header{kind: kindBuried, node: r.node, epoch: r.epoch, dead: node, deadEpoch: epoch}
	if back {
		h.count = 1
	}
	return appendHeader(nil, h)
}

// leftOfLocked lists a grave's members that no live node holds.
func (r *Registry) leftOfLocked(g *grave, left []entry, now time.Time) []entry {
	for prefix, list := range g.lists {
		w, _, ok := parseKey(prefix + "x")
		if !ok {
			continue
		}
		for id, m := range list {
			if _, mine := r.local[prefix][id]; mine || r.heldElsewhereLocked(prefix, id, now) {
				continue
			}
			left = append(left, entry{where: w, id: id, user: m.user})
		}
	}
	return left
}

// rejoin announces this node's members as joined again: the sweeper took
// it for dead (it was cut off for a TTL), announced them as left, and
// hears it again.
func (r *Registry) rejoin() {
	now := time.Now()
	var back []entry
	r.mu.Lock()
	for prefix, list := range r.local {
		w, _, ok := parseKey(prefix + "x")
		if !ok {
			continue
		}
		for id, l := range list {
			if !r.heldElsewhereLocked(prefix, id, now) {
				back = append(back, entry{where: w, id: id, user: l.user})
			}
		}
	}
	r.mu.Unlock()
	for _, e := range back {
		r.announce(e, "joined")
	}
}
