package presence

import (
	"encoding/binary"
	"time"

	"github.com/sockbus/sockbus/bus"
)

// peer is this node's copy of another node's memberships (guarded by
// Registry.mu), as of its delta seq.
type peer struct {
	epoch uint64
	seq   uint64 // the last delta applied
	count uint64 // memberships in lists
	lists map[string]map[string]remote
	seen  time.Time // its last message

	// A snapshot being fetched (req not 0): its chunks so far, and the
	// deltas that came meanwhile, applied after it (at most maxBuffered).
	req      uint64
	reqAt    time.Time
	parts    uint64
	snap     map[string]map[string]remote
	snapN    uint64
	buffered []buffered
}

// remote is another node's member.
type remote struct {
	user string
	at   int64
}

type buffered struct {
	seq  uint64
	body []byte
}

// maxBuffered bounds the deltas of one node kept while its snapshot comes:
// past it the snapshot is asked for again.
const maxBuffered = 256

// syncWait is how long a snapshot may take before it is asked for again.
const syncWait = 2 * time.Second

// ask is a snapshot request to send once Registry.mu is released.
type ask struct {
	node string
	req  uint64
}

// heard takes in a delta, a beat or a burial.
func (r *Registry) heard(m *bus.Msg) {
	rd := reader{b: m.Data}
	h := rd.header()
	if rd.err != nil || h.kind == kindSnap {
		r.warn.Warn("presence: malformed node message dropped")
		return
	}
	now := time.Now()
	var asks []ask
	var back []byte
	rejoin := false
	r.mu.Lock()
	switch {
	case h.kind == kindBuried:
		if h.dead == r.node && h.deadEpoch == r.epoch {
			rejoin = h.count == 1 // taken for dead, heard again: its members were announced as left
		} else if g := r.graves[h.dead]; g != nil && g.epoch == h.deadEpoch {
			delete(r.graves, h.dead) // announced by the sweeper
		}
	case h.node == r.node:
		r.heardSelfLocked(now)
	default:
		if t, ok := r.told[h.node]; ok && t.epoch == h.epoch {
			delete(r.told, h.node)
			back = burial(r, h.node, h.epoch, true)
		}
		asks = r.fromPeerLocked(h, rd.b, now)
	}
	r.mu.Unlock()
	r.ask(asks)
	if back != nil {
		r.publish(bus.PresenceDeltaSubject, [][]byte{back})
	}
	if rejoin {
		r.rejoin()
	}
}

// fromPeerLocked applies another node's delta (or beat), or finds it must
// ask for its snapshot.
func (r *Registry) fromPeerLocked(h header, body []byte, now time.Time) []ask {
	p := r.peers[h.node]
	if p != nil && p.epoch != h.epoch {
		if h.epoch < p.epoch {
			return nil // a late message of an earlier process
		}
		r.buryLocked(h.node, p, now) // restarted: its former members are gone
		p = nil
	}
	if p == nil {
		// A node not known yet: as a process starts, it holds nothing at
		// sequence 0; one that started earlier shows a gap.
		p = &peer{epoch: h.epoch, lists: map[string]map[string]remote{}}
		r.peers[h.node] = p
		if g := r.graves[h.node]; g != nil && g.epoch == h.epoch {
			delete(r.graves, h.node) // it was only silent: its beats are back
		}
	}
	p.seen = now
	if len(body) == 0 { // a beat
		if p.req == 0 && (h.seq > p.seq || (h.seq == p.seq && h.count != p.count)) {
			return []ask{r.resyncLocked(h.node, p, now)}
		}
		return nil
	}
	if h.seq <= p.seq && p.req == 0 {
		return nil // already applied (a snapshot covered it)
	}
	if p.req != 0 || h.seq != p.seq+1 {
		var asks []ask
		if p.req == 0 {
			asks = append(asks, r.resyncLocked(h.node, p, now))
		}
		if len(p.buffered) >= maxBuffered {
			asks = []ask{r.resyncLocked(h.node, p, now)}
		}
		p.buffered = append(p.buffered, buffered{seq: h.seq, body: body})
		return asks
	}
	p.apply(p.lists, &p.count, body)
	p.seq = h.seq
	return nil
}

// apply applies a delta's (or a snapshot chunk's) changes to lists.
func (p *peer) apply(lists map[string]map[string]remote, count *uint64, body []byte) {
	rd := reader{b: body}
	var c rawChange
	for rd.next(&c) {
		list := lists[string(c.prefix)]
		if c.join {
			if list == nil {
				list = map[string]remote{}
				lists[string(c.prefix)] = list
			}
			if _, in := list[string(c.id)]; !in {
				*count++
			}
			list[string(c.id)] = remote{user: string(c.user), at: c.at}
			continue
		}
		if _, in := list[string(c.id)]; in {
			*count--
			if delete(list, string(c.id)); len(list) == 0 {
				delete(lists, string(c.prefix))
			}
		}
	}
}

// resyncLocked starts asking node for its snapshot.
func (r *Registry) resyncLocked(node string, p *peer, now time.Time) ask {
	r.reqs++
	p.req, p.reqAt, p.parts, p.snap, p.snapN, p.buffered = r.reqs, now, 0, nil, 0, nil
	return ask{node: node, req: p.req}
}

// ask sends snapshot requests.
func (r *Registry) ask(asks []ask) {
	for _, a := range asks {
		r.cfg.Metrics.PresenceResync()
		r.request(bus.PresenceSyncSubject(a.node), a.req)
	}
}

func (r *Registry) request(subject string, req uint64) {
	msg := &bus.Msg{Subject: subject, Reply: bus.PresenceSnapSubject(r.node), Data: binary.AppendUvarint(nil, req)}
	if err := r.b.PublishLive(msg); err != nil && r.ctx.Err() == nil {
		r.warn.Warn("failed to ask for presence", "err", err)
	}
}

// sayHello asks every node for its snapshot: at start, and after the bus
// reconnected (deltas may have been lost meanwhile).
func (r *Registry) sayHello() {
	now := time.Now()
	r.mu.Lock()
	r.reqs++
	r.hello = r.reqs
	for _, p := range r.peers {
		p.req, p.reqAt, p.parts, p.snap, p.snapN, p.buffered = r.hello, now, 0, nil, 0, nil
	}
	r.mu.Unlock()
	r.request(bus.PresenceHelloSubject, r.hello)
}

// snapped takes in a chunk of a snapshot this node asked for.
func (r *Registry) snapped(m *bus.Msg) {
	rd := reader{b: m.Data}
	h := rd.header()
	if rd.err != nil || h.kind != kindSnap || h.node == r.node {
		return
	}
	now := time.Now()
	var asks []ask
	r.mu.Lock()
	p := r.peers[h.node]
	if p == nil || p.epoch != h.epoch {
		if h.req != r.hello || h.part != 0 || (p != nil && h.epoch < p.epoch) {
			r.mu.Unlock()
			return // not asked for
		}
		if p != nil {
			r.buryLocked(h.node, p, now)
		}
		p = &peer{epoch: h.epoch, lists: map[string]map[string]remote{}, req: h.req, reqAt: now}
		r.peers[h.node] = p
	}
	switch {
	case h.req != p.req || h.req == 0:
	case h.part != p.parts: // a chunk lost
		asks = append(asks, r.resyncLocked(h.node, p, now))
	default:
		p.seen = now
		if p.parts == 0 {
			p.snap, p.snapN = map[string]map[string]remote{}, 0
		}
		p.apply(p.snap, &p.snapN, rd.b)
		p.parts++
		if h.last {
			asks = r.installLocked(h.node, p, h.seq, now)
		}
	}
	r.mu.Unlock()
	r.ask(asks)
}

// installLocked takes a complete snapshot at seq in, then the deltas
// buffered meanwhile that follow it.
func (r *Registry) installLocked(node string, p *peer, seq uint64, now time.Time) []ask {
	p.lists, p.count, p.seq = p.snap, p.snapN, seq
	buf := p.buffered
	p.req, p.parts, p.snap, p.snapN, p.buffered = 0, 0, nil, 0, nil
	for _, d := range buf {
		if d.seq <= p.seq {
			continue
		}
		if d.seq != p.seq+1 {
			return []ask{r.resyncLocked(node, p, now)}
		}
		p.apply(p.lists, &p.count, d.body)
		p.seq = d.seq
	}
	return nil
}
