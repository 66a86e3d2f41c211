package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/metrics"
)

// Defaults of Config.
const (
	DefaultTTL      = 10 * time.Second
	DefaultMaxList  = 1000
	DefaultMaxNodes = 1024
)

// Config configures a Registry; its zero value works.
type Config struct {
	// TTL bounds how long the members of a node that died stay present
	// (and, after a drop a client may recover from, how long its socket
	// stays present). Default DefaultTTL.
	TTL time.Duration
	// MaxList bounds the members an answer lists (its count is the true
	// one). Default DefaultMaxList.
	MaxList int
	// Events publishes a joined or left event on PresenceEventSubject for
	// every change.
	Events bool
	// Logger receives failures, rate-limited. Default slog.Default().
	Logger *slog.Logger
	// Metrics counts queries and events. Nil: nothing counted.
	Metrics *metrics.Set
	// MaxNodes bounds the nodes running presence on one NATS (this one
	// included) that this node keeps a copy of: messages naming a node past
	// it are dropped, so names made up by anyone who can publish on NATS
	// cannot pile up. Default DefaultMaxNodes.
	MaxNodes int
	// Node names this node to the others. Default the bus's NodeID
	// (random per process). A node restarted under the same name is told
	// apart by its epoch.
	Node string
}

func (c Config) withDefaults() Config {
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.MaxList <= 0 {
		c.MaxList = DefaultMaxList
	}
	if c.MaxNodes <= 0 {
		c.MaxNodes = DefaultMaxNodes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Registry is this node's side of presence: it owns its sockets'
// memberships and sends their changes (owner.go), keeps the other nodes'
// (peers.go), and tells when one dies (nodes.go). It is safe for
// concurrent use; Join and Leave never wait on the bus.
type Registry struct {
	b     *bus.Bus
	cfg   Config
	node  string // a subject token
	epoch uint64 // this process's start
	warn  *ratelog.Logger

	mu sync.Mutex
	owned
	nodes
	peers  map[string]*peer
	graves map[string]*grave
	told   map[string]told

	// sendWake tells the sender changes are pending; syncAsks queues the
	// snapshot requests it answers.
	sendWake chan struct{}
	syncAsks chan syncAsk
	// hello is the request id of this node's last ask to every node.
	hello   uint64
	helloAt time.Time
	// reqs numbers this node's snapshot requests.
	reqs uint64
	// bufBytes is the size of every peer's buffered deltas (maxBufBytes).
	bufBytes int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	subs   []*bus.Subscription
	// answering holds a slot per backend query being read (maxAnswering).
	answering chan struct{}
}

// entry names one membership, for an event.
type entry struct {
	where Where
	id    string
	user  string
}

// Open starts this node's presence: its subscriptions, its sender and
// beats, the answer to PresenceQuerySubject. Before it returns it asks
// every node running presence for its members and waits (within ctx, at
// most helloWait) for their answers, so a starting node answers with
// everyone at once.
func Open(ctx context.Context, b *bus.Bus, cfg Config) (*Registry, error) {
	cfg = cfg.withDefaults()
	if cfg.Node == "" {
		cfg.Node = b.NodeID()
	}
	node, err := bus.EncodeToken(cfg.Node)
	if err != nil {
		return nil, fmt.Errorf("failed to name node: %w", err)
	}
	r := &Registry{
		b: b, cfg: cfg, node: node, epoch: uint64(time.Now().UnixNano()),
		warn:  ratelog.New(cfg.Logger, time.Minute),
		owned: newOwned(), peers: map[string]*peer{}, graves: map[string]*grave{}, told: map[string]told{},
		sendWake: make(chan struct{}, 1), syncAsks: make(chan syncAsk, maxSyncAsks),
		answering: make(chan struct{}, maxAnswering),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if err := r.start(ctx); err != nil {
		r.stop()
		return nil, err
	}
	return r, nil
}

func (r *Registry) start(ctx context.Context) error {
	r.started = time.Now()
	// A node heard before the hello goes out waits for its answer, rather
	// than being asked once more.
	r.reqs++
	r.hello, r.helloAt = r.reqs, r.started
	subs := []struct {
		subject string
		h       func(*bus.Msg)
	}{
		{bus.PresenceDeltaSubject, r.heard},
		{bus.PresenceSnapSubject(r.node), r.snapped},
		{bus.PresenceSyncSubject(r.node), r.asked},
		{bus.PresenceHelloSubject, r.asked},
		{bus.PresenceQueries, nil},
	}
	for _, s := range subs {
		var sub *bus.Subscription
		var err error
		if s.h == nil {
			sub, err = r.b.SubscribeQueue(s.subject, "sockbus-presence", r.answer)
		} else {
			sub, err = r.b.Subscribe(s.subject, s.h)
		}
		if err != nil {
			return fmt.Errorf("failed to subscribe presence: %w", err)
		}
		r.subs = append(r.subs, sub)
	}
	present, err := r.b.SubscribePresence(bus.PresenceNodesSubject)
	if err != nil {
		return fmt.Errorf("failed to subscribe presence: %w", err)
	}
	r.subs = append(r.subs, present)
	r.wg.Add(2)
	go r.send()
	go r.tick()
	others := r.b.Interest(bus.PresenceNodesSubject) - 1
	r.sayHello()
	return r.awaitPeers(ctx, others)
}

// helloWait bounds how long Open waits for the other nodes' snapshots: a
// node slower than that is taken in when its answer comes.
const helloWait = 2 * time.Second

// awaitPeers waits until n other nodes' members are known.
func (r *Registry) awaitPeers(ctx context.Context, n int) error {
	if n <= 0 {
		return nil
	}
	deadline := time.NewTimer(helloWait)
	defer deadline.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		r.mu.Lock()
		known := 0
		for _, p := range r.peers {
			if p.req == 0 {
				known++
			}
		}
		r.mu.Unlock()
		if known >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("failed to read the other nodes' presence: %w", ctx.Err())
		case <-deadline.C:
			r.warn.Warn("presence: not every node answered at start, taking them in as they do", "nodes", n, "answered", known)
			return nil
		case <-poll.C:
		}
	}
}

// refused counts and logs (rate-limited) a message presence dropped.
func (r *Registry) refused(why string, args ...any) {
	r.cfg.Metrics.PresenceRejected()
	r.warn.Warn(why, args...)
}

// TTL is Config.TTL.
func (r *Registry) TTL() time.Duration { return r.cfg.TTL }

// Events reports whether joins and leaves are announced.
func (r *Registry) Events() bool { return r.cfg.Events }

// announce publishes a joined or left event when events are on.
func (r *Registry) announce(e entry, what string) {
	if !r.cfg.Events {
		return
	}
	tok, err := bus.EncodeToken(e.where.scopeName())
	if err != nil {
		return
	}
	ev := Event{ID: e.id, User: userPtr(e.user)}
	if e.where.Kind == KindIO && !e.where.Whole {
		room := e.where.Room
		ev.Room = &room
	}
	body, _ := json.Marshal(ev)
	if err := r.b.PublishLive(&bus.Msg{Subject: bus.PresenceEventSubject(e.where.Kind, tok, what), Data: body}); err != nil {
		r.warn.Warn("failed to announce presence", "err", err)
		return
	}
	if r.cfg.Metrics != nil {
		r.cfg.Metrics.PresenceEvent()
	}
}

// Close stops the node's presence. Nothing is sent on the way out: a
// shutdown's sockets may recover elsewhere (present up to the TTL, as after
// any drop), and this node's members go when its beats stop, announced by
// the others as after a crash.
func (r *Registry) Close(ctx context.Context) error {
	r.stop()
	return nil
}

func (r *Registry) stop() {
	for _, s := range r.subs {
		_ = s.Unsubscribe()
	}
	r.cancel()
	r.wg.Wait()
}
