package presence

import (
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/sockbus/sockbus/bus"
)

// owned is this node's own memberships (guarded by Registry.mu): its live
// sockets', and those of sockets dropped with a chance to recover, until
// their delayed leave comes due.
type owned struct {
	local   map[string]map[string]localMember // list prefix → socket id → member
	count   uint64                            // memberships in local
	lastAt  int64                             // the last join's time: joins get distinct, rising times
	gen     uint64
	delayed []delayedLeave
	// pending is what the sender has not sent yet, in order. Past
	// maxPending it is dropped and lost is set: the sender then skips a
	// sequence number, so every other node asks for a snapshot.
	pending []change
	lost    bool
	// seq numbers this node's deltas; count at seq is sentCount.
	seq, sentCount uint64
	// copies and answered count the snapshots made and the requests
	// they answered (tests).
	copies, answered int
	answers          answerBudget
}

type localMember struct {
	user string
	at   int64
	gen  uint64 // its last join: a delayed leave removes only the join it followed
}

type delayedLeave struct {
	prefix, id string
	gen        uint64
	due        time.Time
}

// maxPending bounds the changes waiting for the sender (a few batches: it
// sends every flushEvery).
const maxPending = 16 * maxBatch

// flushEvery is how long the sender gathers changes into one delta.
const flushEvery = 5 * time.Millisecond

func newOwned() owned { return owned{local: map[string]map[string]localMember{}} }

// Join makes socket id (of user, "" for none) a member of where. It is
// announced as joined unless the id is already a member there, on this
// node or another (a socket back after a drop).
func (r *Registry) Join(w Where, id, user string) {
	prefix, err := w.prefix()
	if err != nil {
		return // a name no room or channel can have
	}
	now := time.Now()
	r.mu.Lock()
	list := r.local[prefix]
	if list == nil {
		list = map[string]localMember{}
		r.local[prefix] = list
	}
	r.gen++
	l, in := list[id]
	fresh := !in && (!r.cfg.Events || !r.heldElsewhereLocked(prefix, id, now))
	if !in || l.user != user {
		if !in {
			r.count++
			r.lastAt = max(now.UnixNano(), r.lastAt+1)
			l.at = r.lastAt
		}
		l.user = user
		r.queueLocked(change{join: true, prefix: prefix, id: id, user: user, at: l.at})
	}
	l.gen = r.gen
	list[id] = l
	r.mu.Unlock()
	if fresh && !in {
		r.announce(entry{where: w, id: id, user: user}, "joined")
	}
}

// Leave ends socket id's membership of where. With later, the socket may
// come back (a drop it may recover from): it stays a member for up to
// the TTL, and a Join of the same id meanwhile (on any node) keeps it
// present without any event.
func (r *Registry) Leave(w Where, id, user string, later bool) {
	prefix, err := w.prefix()
	if err != nil {
		return
	}
	r.mu.Lock()
	l, in := r.local[prefix][id]
	if !in {
		r.mu.Unlock()
		return
	}
	if later {
		r.delayed = append(r.delayed, delayedLeave{prefix: prefix, id: id, gen: l.gen, due: time.Now().Add(r.cfg.TTL)})
		r.mu.Unlock()
		return
	}
	gone := r.dropLocked(prefix, id, time.Now())
	r.mu.Unlock()
	if gone {
		r.announce(entry{where: w, id: id, user: l.user}, "left")
	}
}

// dropLocked ends this node's membership, and reports whether the id
// left the cluster's list (no other live node holds it).
func (r *Registry) dropLocked(prefix, id string, now time.Time) bool {
	if delete(r.local[prefix], id); len(r.local[prefix]) == 0 {
		delete(r.local, prefix)
	}
	r.count--
	r.queueLocked(change{prefix: prefix, id: id})
	return r.cfg.Events && !r.heldElsewhereLocked(prefix, id, now)
}

// queueLocked hands a change to the sender.
func (r *Registry) queueLocked(c change) {
	if len(r.pending) >= maxPending {
		r.pending, r.lost = r.pending[:0], true
	}
	r.pending = append(r.pending, c)
	if len(r.pending) == 1 || len(r.pending) == maxBatch {
		select {
		case r.sendWake <- struct{}{}:
		default:
		}
	}
}

// dueLeaves ends the delayed leaves that came due, unless their socket
// joined again since.
func (r *Registry) dueLeaves(now time.Time) {
	var left []entry
	r.mu.Lock()
	keep := r.delayed[:0]
	for _, d := range r.delayed {
		if now.Before(d.due) {
			keep = append(keep, d)
			continue
		}
		if l, in := r.local[d.prefix][d.id]; in && l.gen == d.gen && r.dropLocked(d.prefix, d.id, now) {
			if w, _, ok := parseKey(d.prefix + d.id); ok {
				left = append(left, entry{where: w, id: d.id, user: l.user})
			}
		}
	}
	clear(r.delayed[len(keep):])
	r.delayed = keep
	r.mu.Unlock()
	for _, e := range left {
		r.announce(e, "left")
	}
}

// syncAsk is a snapshot request waiting for the sender.
type syncAsk struct {
	reply string
	req   uint64
}

// snapPrefix starts every node's snap subject.
var snapPrefix = bus.PresenceSnapSubject("")

// maxSyncAsks bounds the snapshot requests waiting; past it they are
// dropped (the asker asks again).
const maxSyncAsks = 64

// asked takes a snapshot request (for this node, or a hello to all).
func (r *Registry) asked(m *bus.Msg) {
	req, n := binary.Uvarint(m.Data)
	if m.Reply == "" || n <= 0 {
		return
	}
	if !strings.HasPrefix(m.Reply, snapPrefix) {
		// Every node asks on its own snap subject: any other reply is a
		// NATS client's, which would have this node's memberships sent
		// wherever it likes (a namespace's subjects, say).
		r.refused("presence: a snapshot request with a reply outside the presence subjects dropped", "reply", m.Reply)
		return
	}
	select {
	case r.syncAsks <- syncAsk{reply: m.Reply, req: req}:
	default:
		r.refused("presence: snapshot requests past the queue's bound dropped (asked again later)")
	}
}

// send is the one goroutine that publishes this node's deltas, beats and
// snapshots, so that their sequence numbers go out in order.
func (r *Registry) send() {
	defer r.wg.Done()
	beat := time.NewTicker(r.beatEvery())
	defer beat.Stop()
	gather := time.NewTimer(flushEvery)
	gather.Stop()
	gathering := false
	r.flush(true)
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.sendWake:
			if !gathering {
				gathering = true
				gather.Reset(flushEvery)
			}
			r.mu.Lock()
			full := len(r.pending) >= maxBatch
			r.mu.Unlock()
			if full {
				r.flush(false)
			}
		case <-gather.C:
			gathering = false
			r.flush(false)
		case <-beat.C:
			r.flush(true)
		case a := <-r.syncAsks:
			r.answerSync(a)
		}
	}
}

// flush sends the pending changes as numbered deltas, and a beat after
// them if asked.
func (r *Registry) flush(beat bool) {
	r.mu.Lock()
	msgs := r.takeLocked(beat)
	r.mu.Unlock()
	r.publish(bus.PresenceDeltaSubject, msgs)
}

// takeLocked numbers the pending changes and encodes them as deltas (and
// a beat).
func (r *Registry) takeLocked(beat bool) [][]byte {
	changes := r.pending
	r.pending = nil
	if r.lost {
		r.seq++ // a gap: the others ask for a snapshot
		r.lost = false
	}
	var msgs [][]byte
	if len(changes) > 0 {
		first := r.seq + 1
		msgs = batches(changes, func(i int, _ bool) header {
			return header{kind: kindDelta, node: r.node, epoch: r.epoch, seq: first + uint64(i), count: r.count}
		})
		r.seq += uint64(len(msgs))
	}
	if beat {
		msgs = append(msgs, appendHeader(nil, header{kind: kindDelta, node: r.node, epoch: r.epoch, seq: r.seq, count: r.count}))
	}
	return msgs
}

// publish sends msgs on subject, and reports whether every one went.
func (r *Registry) publish(subject string, msgs [][]byte) bool {
	for _, m := range msgs {
		if err := r.b.PublishLive(&bus.Msg{Subject: subject, Data: m}); err != nil {
			if r.ctx.Err() == nil {
				r.warn.Warn("failed to publish presence", "subject", subject, "err", err)
			}
			return false
		}
	}
	return true
}

// answerSync sends this node's memberships as they stand at its last
// delta (the pending changes sent first), in chunks, to the asker, and to
// every asker whose request waits meanwhile: one copy of the memberships
// and one encoding for all of them (many nodes starting at once ask
// together), one answer per asker (its latest request).
func (r *Registry) answerSync(first syncAsk) {
	asks := r.waitingAsks(first)
	if n := r.answers.take(len(asks), time.Now(), r.beatEvery()); n < len(asks) {
		for range len(asks) - n - 1 {
			r.cfg.Metrics.PresenceRejected()
		}
		r.refused("presence: snapshot requests past the bound dropped (asked again later)", "dropped", len(asks)-n)
		if asks = asks[:n]; n == 0 {
			return
		}
	}
	r.mu.Lock()
	deltas := r.takeLocked(false)
	all := make([]change, 0, r.count)
	for prefix, list := range r.local {
		for id, l := range list {
			all = append(all, change{join: true, prefix: prefix, id: id, user: l.user, at: l.at})
		}
	}
	h := header{kind: kindSnap, node: r.node, epoch: r.epoch, seq: r.seq, count: r.count}
	r.copies++
	r.answered += len(asks)
	r.mu.Unlock()
	r.publish(bus.PresenceDeltaSubject, deltas)
	bodies := chunks(all)
	for _, a := range asks {
		h.req = a.req
		for i, body := range bodies {
			h.part, h.last = uint64(i), i == len(bodies)-1
			msg := append(appendHeader(make([]byte, 0, len(body)+64), h), body...)
			if !r.publish(a.reply, [][]byte{msg}) {
				break
			}
		}
	}
}

// waitingAsks is first and the requests queued behind it, one per asker.
func (r *Registry) waitingAsks(first syncAsk) []syncAsk {
	asks := []syncAsk{first}
	for len(asks) < maxSyncAsks {
		select {
		case a := <-r.syncAsks:
			if i := slices.IndexFunc(asks, func(b syncAsk) bool { return b.reply == a.reply }); i >= 0 {
				asks[i] = a // the asker waits for its latest request only
			} else {
				asks = append(asks, a)
			}
			continue
		default:
		}
		break
	}
	return asks
}

// answerBudget bounds the snapshots a node sends: maxSyncAsks per beat,
// as many as nodes starting at once need, while a flood of requests (any
// NATS client can publish them) costs at most that many copies of its
// memberships on the wire. A request dropped is asked again: a node's
// tick asks after syncWait, a starting node when it hears the other's beat.
// Only the sender uses it.
type answerBudget struct {
	tokens float64
	at     time.Time
}

// take spends up to n answers, and says how many it may send.
func (b *answerBudget) take(n int, now time.Time, per time.Duration) int {
	if b.at.IsZero() {
		b.tokens = maxSyncAsks
	} else {
		b.tokens = min(maxSyncAsks, b.tokens+maxSyncAsks*float64(now.Sub(b.at))/float64(per))
	}
	b.at = now
	n = min(n, int(b.tokens))
	b.tokens -= float64(n)
	return n
}
