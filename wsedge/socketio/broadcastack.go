package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/sio"
)

// A live Socket.IO message with a reply subject is a broadcast with
// acknowledgements (see Operator.EmitWithAck; `nats request` with
// --replies does the same from any NATS client). Each node with sockets in
// the namespace answers on the reply subject: first one message with
// HeaderAckCount (and the count as its body), then one per client
// acknowledgement, HeaderSocket naming the client and the payload its
// ack's arguments (attachments as in HeaderAttachments).
const (
	// HeaderAckDeadline is when the sender stops waiting (Unix ms); nodes
	// forget their clients' pending acks then (30 s without it, 5 min at most).
	HeaderAckDeadline = bus.HeaderAckDeadline
	// HeaderAckCount is how many of a node's sockets got the event.
	HeaderAckCount = bus.HeaderAckCount
)

// A node keeps its clients' acks of a broadcast pending until the sender's
// deadline, defaultAckWait when it names none, and never past maxAckWait.
const (
	defaultAckWait = 30 * time.Second
	maxAckWait     = 5 * time.Minute
)

// AckResponse is one client's answer to a broadcast with acknowledgements.
type AckResponse struct {
	SocketID    string
	Args        json.RawMessage // the acknowledgement's arguments, a JSON array
	Attachments [][]byte
}

// EmitWithAck sends event to every targeted socket, on every node, each
// with an acknowledgement id of its own, and waits until all of them
// answered or ctx ends, as io.timeout(ms).emitWithAck does in socket.io.
// ctx must have a deadline. It returns the answers in arrival order; when
// ctx ends first, it returns those that arrived with ErrAckTimeout (or
// ctx's error when it was cancelled). Like any event with an ack, the event
// is live only: not stored, not replayed.
func (o Operator) EmitWithAck(ctx context.Context, event string, args ...any) ([]AckResponse, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil, errors.New("wsedge: EmitWithAck needs a context with a deadline")
	}
	if sio.IsReserved(event) {
		return nil, fmt.Errorf("wsedge: %q is a reserved event name", event)
	}
	if o.ns.local {
		return nil, fmt.Errorf("failed to emit %q with acks: %w", event, ErrLocalNamespace)
	}
	array, atts, err := encodeArgs(args)
	if err != nil {
		return nil, err
	}
	m, err := o.message(event, array, atts)
	if err != nil {
		return nil, err
	}
	m.Subject = bus.Live(m.Subject)
	m.Header[HeaderAckDeadline] = []string{strconv.FormatInt(deadline.UnixMilli(), 10)}
	g, err := o.ns.ask(m, false)
	if err != nil || g == nil {
		return nil, err
	}
	defer g.close()
	var out []AckResponse
	counted, expected := 0, 0
	for counted < g.nodes || len(out) < expected {
		r, err := g.next(ctx)
		if err != nil {
			return out, err
		}
		if c := r.Header.Get(HeaderAckCount); c != "" {
			n, _ := strconv.Atoi(c)
			counted, expected = counted+1, expected+n
			continue
		}
		args, atts, err := splitAttachments(r)
		if err != nil {
			continue
		}
		out = append(out, AckResponse{SocketID: r.Header.Get(HeaderSocket), Args: json.RawMessage(args), Attachments: atts})
	}
	return out, nil
}

// EmitWithAck broadcasts to the whole namespace with acknowledgements; see
// Operator.EmitWithAck.
func (n *Namespace) EmitWithAck(ctx context.Context, event string, args ...any) ([]AckResponse, error) {
	return Operator{ns: n}.EmitWithAck(ctx, event, args...)
}

// maxNodeAnswers bounds the answers of a per-node question waiting to be
// read: one per node of a cluster, with room to spare.
const maxNodeAnswers = 1024

// gatherer collects the answers of every node with sockets in a namespace
// to one request (a broadcast with acks, a fetch): an inbox subscribed
// before the request goes out, and how many nodes will answer.
type gatherer struct {
	sub   *bus.Subscription
	nodes int
}

// ask publishes m, a live message, as a request to every node with sockets
// in the namespace, and returns what gathers their answers: nil when no
// node has any. perNode says the answers are one per node (a fetch),
// which a small buffer holds; otherwise each socket may answer (acks).
func (n *Namespace) ask(m *bus.Msg, perNode bool) (*gatherer, error) {
	b := n.srv.bus
	var (
		sub *bus.Subscription
		err error
	)
	if perNode {
		sub, err = b.SubscribeFew(bus.NewInbox(), maxNodeAnswers)
	} else {
		sub, err = b.SubscribeSync(bus.NewInbox())
	}
	if err != nil {
		return nil, err
	}
	g := &gatherer{sub: sub, nodes: b.Interest(bus.PresenceSubject(n.tok))}
	if g.nodes == 0 {
		g.close()
		return nil, nil
	}
	m.Reply = sub.Subject()
	if err := b.PublishLive(m); err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

func (g *gatherer) close() { _ = g.sub.Unsubscribe() }

// next waits for the next answer: ErrAckTimeout at ctx's deadline, ctx's
// error when it is cancelled first.
func (g *gatherer) next(ctx context.Context) (*bus.Msg, error) {
	r, err := g.sub.Next(ctx)
	switch {
	case err == nil:
		return r, nil
	case ctx.Err() != nil:
		return nil, ackWaitEnded(ctx)
	}
	return nil, fmt.Errorf("failed to collect answers: %w", err)
}

// deliverWithAck is deliver for a broadcast with acknowledgements: each
// local target gets the event with an ack id of its own, and the answers go
// to the sender's inbox, after this node's count.
func (n *Namespace) deliverWithAck(a address, m *bus.Msg) {
	args, atts, err := splitAttachments(m)
	wait := defaultAckWait
	if h := m.Header.Get(HeaderAckDeadline); h != "" {
		ms, perr := strconv.ParseInt(h, 10, 64)
		wait = min(time.Until(time.UnixMilli(ms)), maxAckWait)
		if perr != nil {
			err = perr
		}
	}
	if err != nil || wait <= 0 {
		n.srv.log.Debug("dropping broadcast with acks", "subject", m.Subject, "err", err, "wait", wait)
		return
	}
	targets := a.sockets(n)
	b := n.srv.bus
	f := &ackFanIn{b: b, inbox: m.Reply, pending: make(map[*Socket]int64, len(targets))}
	// Register every ack before the count goes out and any frame is sent:
	// the count then excludes sockets that already left, and no answer can
	// overtake it (one connection publishes both, in order).
	ids := make([]int64, len(targets))
	live := targets[:0:0]
	for _, s := range targets {
		if id := s.registerAck(func(r ackReply, ok bool) { f.answered(s, r, ok) }); id >= 0 {
			ids[len(live)] = id
			live = append(live, s)
		}
	}
	k := strconv.Itoa(len(live))
	// The body repeats the count: NATS request tools end on an empty reply.
	count := &bus.Msg{Subject: f.inbox, Header: bus.Header{HeaderAckCount: []string{k}}, Data: []byte(k)}
	if err := b.PublishLive(count); err != nil {
		for i, s := range live {
			s.dropAck(ids[i])
		}
		return
	}
	if len(live) == 0 {
		return
	}
	f.mu.Lock()
	for i, s := range live {
		f.pending[s] = ids[i]
	}
	f.timer = time.AfterFunc(wait, f.expire)
	f.mu.Unlock()
	for i, s := range live {
		s.deliverLive(0, n.eventFrames(a.event, args, atts, ids[i], nil))
	}
}

// ackFanIn forwards one node's client acknowledgements of a broadcast.
type ackFanIn struct {
	b     *bus.Bus
	inbox string

	mu      sync.Mutex
	pending map[*Socket]int64
	timer   *time.Timer
}

func (f *ackFanIn) answered(s *Socket, r ackReply, ok bool) {
	f.mu.Lock()
	_, waiting := f.pending[s]
	delete(f.pending, s)
	if len(f.pending) == 0 && f.timer != nil {
		f.timer.Stop()
	}
	f.mu.Unlock()
	if !ok || !waiting {
		return
	}
	m := &bus.Msg{Subject: f.inbox, Header: bus.Header{HeaderSocket: []string{s.id}}}
	if s.user != "" {
		m.Header[wsedge.HeaderUser] = []string{s.user}
	}
	joinAttachments(m, r.args, r.atts)
	_ = f.b.PublishLive(m)
}

// expire forgets the acks still pending at the sender's deadline.
func (f *ackFanIn) expire() {
	f.mu.Lock()
	pending := f.pending
	f.pending = nil
	f.mu.Unlock()
	for s, id := range pending {
		s.dropAck(id)
	}
}
