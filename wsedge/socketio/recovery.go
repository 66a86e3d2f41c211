package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/engine"
)

// Connection state recovery, compatible with socket.io-client >= 4.6.
//
// Every stored event reaches a client with an offset "<epoch>.<seq>" as its
// last argument; the CONNECT reply carries a private pid. A client coming
// back sends {pid, offset}: the session record (rooms, data, id) is read
// from the bus's key-value store and the events stored after offset that the
// socket would have received are sent before the CONNECT reply. A client
// that received nothing before the drop has no offset and sends only its
// pid: it recovers from the session's start (the log's position when it
// joined, kept in the record), where socket.io gives a fresh session. A
// record that is gone, an offset from another epoch or a position the stream
// has dropped give a fresh session instead, with nothing replayed.

func (s *Server) recoveryOn() bool {
	return s.cfg.Sessions != nil && s.cfg.History != nil && s.cfg.RecoveryWindow > 0
}

func parseOffset(off string) (epoch string, seq uint64, ok bool) {
	epoch, num, found := strings.Cut(off, ".")
	if !found || epoch == "" {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	return epoch, seq, err == nil
}

// sessionRecord is what the store keeps for a recoverable socket.
type sessionRecord struct {
	PID       string         `json:"pid"`
	SID       string         `json:"sid"`
	Namespace string         `json:"nsp"`
	Rooms     []string       `json:"rooms,omitempty"`
	Data      map[string]any `json:"data,omitempty"`
	User      string         `json:"user,omitempty"`  // only this user may recover it
	Start     uint64         `json:"start,omitempty"` // the oldest sequence the session was sent
	Epoch     string         `json:"epoch,omitempty"` // the stream Start belongs to
}

func (s *Socket) record() []byte {
	r := sessionRecord{PID: s.pid, SID: s.id, Namespace: s.ns.name, User: s.user, Start: s.start.Load()}
	if s.ns.log.Stream != nil {
		r.Epoch = s.ns.log.Epoch()
	}
	s.ns.mu.RLock()
	for room := range s.rooms {
		r.Rooms = append(r.Rooms, room)
	}
	s.ns.mu.RUnlock()
	s.dmu.Lock()
	if len(s.data) > 0 {
		r.Data = s.data
	}
	raw, err := json.Marshal(r)
	s.dmu.Unlock()
	if err != nil { // data that cannot be JSON: keep id and rooms
		r.Data = nil
		raw, _ = json.Marshal(r)
	}
	return raw
}

// recoverable reports whether a socket that left for reason may come back.
func recoverable(reason string) bool {
	switch reason {
	case ReasonTransportClose, ReasonTransportError, ReasonPingTimeoutEngine, ReasonForcedClose, ReasonServerShuttingDown, "forced server close",
		engine.ReasonSlowConsumer: // the replay is exactly what a slow reader needs
		return true
	}
	return false
}

// recoveryAuth is what socket.io-client adds to the CONNECT payload.
type recoveryAuth struct {
	PID     string `json:"pid"`
	Offset  string `json:"offset"`
	History *int   `json:"history"`
}

// replayPlan is what a CONNECT asks to be replayed.
type replayPlan struct {
	restore bool // recover a session: events after afterSeq
	after   uint64
	history int // late joiner: the last n events
	// fresh, when set, says why a recovery the client asked for gives a
	// fresh session instead (counted once the socket is accepted).
	fresh *metrics.Outcome
}

// planRecovery reads the session a CONNECT refers to, if any, and fills s
// (id, pid, rooms, data) from it.
func (c *clientConn) planRecovery(n *Namespace, s *Socket, auth json.RawMessage) replayPlan {
	srv := c.srv
	var ra recoveryAuth
	if srv.cfg.History == nil || json.Unmarshal(auth, &ra) != nil {
		return replayPlan{}
	}
	plan := replayPlan{}
	if ra.History != nil && *ra.History > 0 {
		plan.history = min(*ra.History, srv.cfg.MaxHistory)
	}
	if !srv.recoveryOn() || ra.PID == "" {
		return plan
	}
	fromStart := ra.Offset == "" // nothing received before the drop
	var seq uint64
	if !fromStart {
		epoch, at, ok := parseOffset(ra.Offset)
		if !ok || n.log.Stream == nil || epoch != n.log.Epoch() {
			plan.fresh = outcomePtr(metrics.RecoveryBadOffset)
			return plan
		}
		seq = at
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	raw, err := srv.cfg.Sessions.Load(ctx, ra.PID)
	cancel()
	if err != nil || raw == nil {
		plan.fresh = outcomePtr(metrics.RecoveryNoSession)
		return plan
	}
	var rec sessionRecord
	if json.Unmarshal(raw, &rec) != nil || rec.Namespace != n.name || rec.PID != ra.PID || rec.SID == "" {
		plan.fresh = outcomePtr(metrics.RecoveryNoSession)
		return plan
	}
	// No takeover: the session's user only, never while its socket is
	// still connected (anywhere), never from before what it was sent.
	// So a pid recovers once: the recovered socket is live until it drops
	// again (socket.io-client takes recovered from an unchanged pid, so the
	// pid cannot be rotated).
	if fromStart {
		if rec.Start == 0 || n.log.Stream == nil || rec.Epoch != n.log.Epoch() {
			plan.fresh = outcomePtr(metrics.RecoveryBadOffset)
			return plan
		}
		seq = rec.Start - 1 // replay from the start on
	}
	tooOld := !fromStart && rec.Start != 0 && seq < rec.Start
	if rec.User != s.user || tooOld || n.sessionLive(rec.SID) {
		return plan
	}
	s.id, s.pid = rec.SID, rec.PID
	s.start.Store(rec.Start)
	s.rooms = nil // a fresh socket's: in no room, added to no index yet
	if len(rec.Rooms) > 0 {
		s.rooms = make(map[string]struct{}, len(rec.Rooms))
	}
	for _, r := range rec.Rooms {
		s.rooms[r] = struct{}{}
	}
	if len(rec.Data) > 0 {
		s.data = rec.Data
	}
	return replayPlan{restore: true, after: seq}
}

// outcomePtr points at a copy of o (for replayPlan.fresh).
func outcomePtr(o metrics.Outcome) *metrics.Outcome { return &o }

// outcome is what a successful replay of the plan counts as.
func (p replayPlan) outcome() metrics.Outcome {
	if p.restore {
		return metrics.RecoveryRecovered
	}
	return metrics.HistoryServed
}

// failure is what a failed replay of the plan counts as.
func (p replayPlan) failure() metrics.Outcome {
	if p.restore {
		return metrics.RecoveryFailed
	}
	return metrics.HistoryFailed
}

// replay sends s the stored events the plan asks for, before its CONNECT
// reply, while live deliveries are held. It reports whether a restore
// succeeded; on bus.ErrHistoryGone the caller starts a fresh session.
//
// seen is the newest sequence the namespace fanned out live before s was
// added (0: none known): events up to it were not held for s, so the
// replay reads on until it covers seen (catchUp).
func (c *clientConn) replay(n *Namespace, s *Socket, plan replayPlan, seen uint64) (uint64, error) {
	h := c.srv.cfg.History
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// event decodes a stored message for s; with reach, false also when s
	// would not have received it live (both replays decide through it).
	event := func(m bus.StoredMsg, reach bool) (e storedEvent, ok bool) {
		e.addr, ok = readAddress(strings.TrimPrefix(m.Subject, n.subjBase), m.Header)
		if ok && reach {
			n.mu.RLock()
			ok = e.addr.reachesLocked(s)
			n.mu.RUnlock()
		}
		if !ok {
			return e, false
		}
		var err error
		e.args, e.atts, err = splitAttachments(&bus.Msg{Header: m.Header, Data: m.Data})
		return e, err == nil
	}
	// Paced on the client: the events go out in groups, each waiting for
	// room in the queue (replayOut), so a replay larger than the queue goes
	// out as the client reads it, and the read of the stream (a batch at a
	// time) waits with it.
	out := newReplayOut(s)
	send := func(reach bool) func(bus.StoredMsg) error {
		return func(m bus.StoredMsg) error {
			e, ok := event(m, reach)
			if !ok {
				return nil
			}
			s.sent(m.Seq)
			var off [offsetSize]byte
			return out.event(ctx, e.addr.event, e.args, e.atts, c.srv.appendOffset(off[:0], n, m.Seq))
		}
	}
	var last uint64
	var err error
	if plan.restore {
		last, err = h.Since(ctx, n.log, plan.after, send(true))
	} else {
		// Last has already kept only what s would have received: counted
		// once, so a room change meanwhile cannot make the history short.
		visible := func(m bus.StoredMsg) bool {
			_, ok := event(m, true)
			return ok
		}
		last, err = h.Last(ctx, n.log, plan.history, visible, send(false))
	}
	// What was read goes out, even before an error: each event carries its
	// offset, so a client cut off after them resumes from the last.
	if ferr := out.flush(ctx); err == nil {
		err = ferr
	}
	if err != nil {
		return last, err
	}
	last, err = catchUp(ctx, h, n.log, last, seen, send(true))
	if ferr := out.flush(ctx); err == nil {
		err = ferr
	}
	return last, err
}

// storedEvent is a stored message decoded for a replay.
type storedEvent struct {
	addr address
	args []byte
	atts [][]byte
}

// offsetSize fits a quoted offset of a usual epoch: an array of it on the
// stack spares appendOffset an allocation.
const offsetSize = 64

// appendOffset appends the offset an event stored at seq carries as its
// last argument, as a JSON string `"<epoch>.<seq>"`; nothing when recovery
// is off or the event was not stored (volatile: seq 0).
func (s *Server) appendOffset(dst []byte, n *Namespace, seq uint64) []byte {
	if !s.recoveryOn() || seq == 0 || n.log.Stream == nil {
		return dst
	}
	dst = strconv.AppendQuote(dst, n.log.Epoch())
	dst = append(dst[:len(dst)-1], '.')
	dst = strconv.AppendUint(dst, seq, 10)
	return append(dst, '"')
}

// sessionSaver writes session records in the background, coalescing
// repeated saves of one socket, and refreshes live sockets' records every
// third of the recovery window so a crashed node's sockets stay recoverable.
type sessionSaver struct {
	srv  *Server
	mu   sync.Mutex
	dirt map[string]*Socket // pid → socket to save; nil value = delete
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newSessionSaver(s *Server) *sessionSaver {
	w := &sessionSaver{srv: s, dirt: map[string]*Socket{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *sessionSaver) save(s *Socket) { w.mark(s.pid, s) }

func (w *sessionSaver) forget(pid string) { w.mark(pid, nil) }

func (w *sessionSaver) mark(pid string, s *Socket) {
	w.mu.Lock()
	w.dirt[pid] = s
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *sessionSaver) run() {
	defer close(w.done)
	t := time.NewTicker(w.srv.cfg.RecoveryWindow / 3)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			w.flush()
			return
		case <-w.wake:
		case <-t.C:
			for _, s := range w.srv.liveSockets() {
				w.mu.Lock()
				if _, pending := w.dirt[s.pid]; !pending {
					w.dirt[s.pid] = s
				}
				w.mu.Unlock()
			}
		}
		w.flush()
	}
}

func (w *sessionSaver) flush() {
	w.mu.Lock()
	batch := w.dirt
	w.dirt = map[string]*Socket{}
	w.mu.Unlock()
	bound := 5 * time.Second
	select {
	case <-w.stop: // the last flush, inside the shutdown's time
		bound = time.Second
	default:
	}
	if bs, ok := w.srv.cfg.Sessions.(wsedge.SessionBatchStore); ok {
		w.flushPipelined(bs, batch, bound)
		return
	}
	var failed error
	for pid, s := range batch {
		if failed == nil {
			failed = w.write(pid, s, bound)
			if failed == nil {
				continue
			}
		}
		w.retryLater(pid, s)
	}
}

// flushPipelined writes batch's records with SaveMany (one round trip for
// many records) and its deletes one by one. Nothing about recovery after a
// crash changes: records were already written in the background, after the
// CONNECT reply, and each still counts as saved only once the bucket has
// acknowledged it; pipelined, they are stored sooner, and a record that is
// not acknowledged is kept for the next round as before. One pid appears
// once per batch (a map), and a batch ends before the next starts, so a
// pid's writes stay in order.
func (w *sessionSaver) flushPipelined(bs wsedge.SessionBatchStore, batch map[string]*Socket, bound time.Duration) {
	pids := make([]string, 0, len(batch))
	socks := make([]*Socket, 0, len(batch))
	records := make([][]byte, 0, len(batch))
	var failed error
	for pid, s := range batch {
		if s != nil {
			pids, socks, records = append(pids, pid), append(socks, s), append(records, s.record())
			continue
		}
		if failed == nil {
			if failed = w.write(pid, nil, bound); failed == nil {
				continue
			}
		}
		w.retryLater(pid, nil)
	}
	if len(pids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	logged := false
	for i, err := range bs.SaveMany(ctx, pids, records) {
		if err == nil || errors.Is(err, context.Canceled) {
			continue
		}
		if !logged {
			w.srv.log.Warn("session store failed", "err", err)
			logged = true
		}
		w.retryLater(pids[i], socks[i])
	}
}

// write saves s's record under pid, or deletes it when s is nil; a
// failure other than cancellation is logged and returned.
func (w *sessionSaver) write(pid string, s *Socket, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	var err error
	if s == nil {
		err = w.srv.cfg.Sessions.Delete(ctx, pid)
	} else {
		err = w.srv.cfg.Sessions.Save(ctx, pid, s.record())
	}
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	w.srv.log.Warn("session store failed", "err", err)
	return err
}

// retryLater puts a write that failed back for the next round (the bucket
// cannot be written now: no leader, no quorum, closed), unless a newer one
// is pending: the rest waits too instead of each waiting its bound.
func (w *sessionSaver) retryLater(pid string, s *Socket) {
	w.mu.Lock()
	if _, newer := w.dirt[pid]; !newer {
		w.dirt[pid] = s
	}
	w.mu.Unlock()
}

func (w *sessionSaver) close(ctx context.Context) {
	w.once.Do(func() { close(w.stop) })
	select {
	case <-w.done:
	case <-ctx.Done():
	}
}

// liveSockets lists every socket connected to this node.
func (s *Server) liveSockets() []*Socket {
	var out []*Socket
	for _, n := range s.namespaces() {
		n.mu.RLock()
		for _, so := range n.sockets {
			out = append(out, so)
		}
		n.mu.RUnlock()
	}
	return out
}

// markStart sets a fresh socket's session start to the log's position when
// it joined (it was added to the namespace: every later event that reaches
// it is sent), so a client that receives nothing before a drop can recover
// from there. The position is the namespace's newest sequence this node saw
// live, asked of the log once per subscription.
func (c *clientConn) markStart(n *Namespace, s *Socket) {
	if !c.srv.recoveryOn() || n.log.Stream == nil {
		return
	}
	next := n.nextSeq.Load()
	if next == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		last, err := c.srv.cfg.History.Last(ctx, n.log, 0, nil, nil)
		cancel()
		if err != nil {
			c.srv.warn.Warn("failed to read the session start", "namespace", n.name, "err", err)
			return
		}
		next = last + 1
		n.noteSeq(last)
	}
	s.sent(next)
}

// sessionLive reports whether a socket with id is connected to the
// namespace on this node or, asked over the bus, on another one.
func (n *Namespace) sessionLive(id string) bool {
	if n.Socket(id) != nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	socks, err := n.In(id).FetchSockets(ctx)
	return len(socks) > 0 || (err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrAckTimeout))
}
