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
	bufBytes int // the bodies' size in buffered
	behind   int // beats in a row behind seq
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

// maxBufBytes bounds the bytes of the deltas kept for every node together
// (room for two nodes' maxBuffered legitimate deltas): past it a delta is
// dropped, and the gap it leaves makes the snapshot asked for again once
// it comes, so messages made up to be large (up to NATS's max payload,
// under many names) cannot pile up.
const maxBufBytes = 2 * maxBuffered * maxBatchBytes

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
		r.refused("presence: malformed node message dropped", "subject", m.Subject, "bytes", len(m.Data))
		return
	}
	now := time.Now()
	var asks []ask
	var back []byte
	var refusal string
	rejoin := false
	r.mu.Lock()
	switch {
	case h.kind == kindBuried:
		if h.dead == r.node && h.deadEpoch == r.epoch {
			// Taken for dead, heard again: its members were announced as
			// left. Once per TTL at most: it takes a TTL of silence to be
			// taken for dead again, and each "back" costs an event per member.
			if rejoin = h.count == 1 && (r.rejoined.IsZero() || now.Sub(r.rejoined) >= r.cfg.TTL); rejoin {
				r.rejoined = now
			} else if h.count == 1 {
				refusal = "presence: repeated news of this node coming back dropped"
			}
		} else if g := r.graves[h.dead]; g != nil && g.epoch == h.deadEpoch {
			delete(r.graves, h.dead) // announced by the sweeper
		}
	case h.node == r.node && h.epoch == r.epoch:
		r.heardSelfLocked(now)
	case h.node == r.node:
		refusal = "presence: a message in this node's name from another process dropped (two nodes with one name?)"
	default:
		if t, ok := r.told[h.node]; ok && t.epoch == h.epoch {
			delete(r.told, h.node)
			back = burial(r, h.node, h.epoch, true)
		}
		asks, refusal = r.fromPeerLocked(h, rd.b, now)
	}
	r.mu.Unlock()
	if refusal != "" {
		r.refused(refusal, "node", h.node)
	}
	r.ask(asks)
	if back != nil {
		r.publish(bus.PresenceDeltaSubject, [][]byte{back})
	}
	if rejoin {
		r.rejoin()
	}
}

// fromPeerLocked applies another node's delta (or beat), or finds it must
// ask for its snapshot; or says why it dropped it.
func (r *Registry) fromPeerLocked(h header, body []byte, now time.Time) ([]ask, string) {
	p := r.peers[h.node]
	if p != nil && p.epoch != h.epoch {
		if h.epoch < p.epoch && now.Sub(p.seen) < 2*r.beatEvery() {
			return nil, "" // a late message of an earlier process
		}
		// Restarted (with a clock set back, if its epoch is earlier while
		// the later one has gone silent): its former members are gone.
		r.buryLocked(h.node, p, now)
		p = nil
	}
	if p == nil && len(r.peers)+1 >= r.cfg.MaxNodes {
		return nil, "presence: a message from a node past --presence-max-nodes dropped"
	}
	if p == nil {
		// A node not known yet: as a process starts, it holds nothing at
		// sequence 0; one that started earlier shows a gap.
		p = &peer{epoch: h.epoch, lists: map[string]map[string]remote{}}
		r.peers[h.node] = p
		if gap := h.seq > 1 || (len(body) == 0 && h.seq > 0); gap && now.Sub(r.helloAt) < syncWait {
			// Its answer to this node's hello is on its way: asking again
			// would make it send its memberships twice.
			p.req, p.reqAt = r.hello, r.helloAt
		}
		if g := r.graves[h.node]; g != nil && g.epoch == h.epoch {
			delete(r.graves, h.node) // it was only silent: its beats are back
		}
	}
	p.seen = now
	if len(body) == 0 {
		return r.beatLocked(h, p, now), ""
	}
	if h.seq <= p.seq && p.req == 0 {
		return nil, "" // already applied (a snapshot covered it)
	}
	if h.seq == p.seq+1 && p.req == 0 {
		p.apply(p.lists, &p.count, body)
		p.seq = h.seq
		return nil, ""
	}
	return r.bufferLocked(h, p, body, now)
}

// beatLocked checks a beat against the copy: a number past the copy's, or
// the same with another count, shows a lost delta. Two beats in a row
// behind the copy show a copy ahead of its owner (a snapshot or deltas
// made up by another NATS client): the copy's later deltas would be taken
// as already applied forever. One is not enough: a beat sent before a
// snapshot may come after it.
func (r *Registry) beatLocked(h header, p *peer, now time.Time) []ask {
	if p.req != 0 {
		return nil
	}
	if h.seq >= p.seq {
		p.behind = 0
	} else if p.behind++; p.behind >= 2 {
		return []ask{r.resyncLocked(h.node, p, now)}
	}
	if h.seq > p.seq || (h.seq == p.seq && h.count != p.count) {
		return []ask{r.resyncLocked(h.node, p, now)}
	}
	return nil
}

// bufferLocked keeps a delta that came while p's snapshot is asked for,
// or that shows a gap (then asks for it).
func (r *Registry) bufferLocked(h header, p *peer, body []byte, now time.Time) ([]ask, string) {
	var asks []ask
	if p.req == 0 || len(p.buffered) >= maxBuffered {
		asks = []ask{r.resyncLocked(h.node, p, now)}
	}
	if r.bufBytes+len(body) > maxBufBytes {
		return asks, "presence: a delta past the buffered bytes' bound dropped (asked again once the snapshot comes)"
	}
	p.buffered = append(p.buffered, buffered{seq: h.seq, body: body})
	p.bufBytes += len(body)
	r.bufBytes += len(body)
	return asks, ""
}

// dropBufferedLocked forgets the deltas kept for p.
func (r *Registry) dropBufferedLocked(p *peer) {
	r.bufBytes -= p.bufBytes
	p.buffered, p.bufBytes = nil, 0
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
	p.req, p.reqAt, p.parts, p.snap, p.snapN, p.behind = r.reqs, now, 0, nil, 0, 0
	r.dropBufferedLocked(p)
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
	r.hello, r.helloAt = r.reqs, now
	for _, p := range r.peers {
		p.req, p.reqAt, p.parts, p.snap, p.snapN = r.hello, now, 0, nil, 0
		r.dropBufferedLocked(p)
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
		} else if len(r.peers)+1 >= r.cfg.MaxNodes {
			r.mu.Unlock()
			r.refused("presence: a snapshot from a node past --presence-max-nodes dropped", "node", h.node)
			return
		}
		p = &peer{epoch: h.epoch, lists: map[string]map[string]remote{}, req: h.req, reqAt: now}
		r.peers[h.node] = p
	}
	switch {
	case h.req != p.req || h.req == 0:
	case h.part != p.parts: // a chunk lost
		asks = append(asks, r.resyncLocked(h.node, p, now))
	default:
		p.seen, p.reqAt = now, now // a large snapshot is not asked again while it comes
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
	p.req, p.parts, p.snap, p.snapN = 0, 0, nil, 0
	r.dropBufferedLocked(p)
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
