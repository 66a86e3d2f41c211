package presence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// member is another node's member key as the bucket holds it (a node's
// own members are in Registry.local). Kept small: one per member of the
// cluster, on every node.
type member struct {
	key        string // its list's prefix, then id
	id         string // the end of key
	node, user string // node shared by its members (view.names)
	rev        uint64
}

func (m member) prefix() string { return m.key[:len(m.key)-len(m.id)] }

// entry reads the member's list back from its key (only for an event).
func (m member) entry() entry {
	w, _, _ := parseKey(m.key)
	return entry{where: w, id: m.id, user: m.user, rev: m.rev}
}

// splitKey cuts a member key into its list's prefix and the socket id.
func splitKey(key string) (prefix, id string) {
	i := strings.LastIndexByte(key, '.')
	return key[:i+1], key[i+1:]
}

// view is this node's copy of the other nodes' members (guarded by
// Registry.mu), indexed for answers (by list) and for sweeps (by node).
type view struct {
	byPrefix map[string]map[string]*member // list prefix → socket id → member
	byNode   map[string]map[string]*member // node → key → member
	names    map[string]string             // node names, one copy each
	// swept holds what this node, as the sweeper, announced as left (and
	// whether its purge was taken), by key, until the key changes.
	swept map[string]*sweptKey
	// created is when the bucket this view follows was made: a bucket
	// made again (an external NATS restarted) is a new one.
	created     time.Time
	watchCancel context.CancelFunc
	// rev is the last revision the view took in; echo is the revision of
	// this node's last heartbeat write: the view must take it in before the
	// next one, or its watch is stuck (an ordered consumer may take many
	// seconds to come back after the bucket's leader died) and starts over.
	rev, echo uint64
}

type sweptKey struct {
	rev    uint64
	purged bool
}

func newView() view {
	return view{byPrefix: map[string]map[string]*member{}, byNode: map[string]map[string]*member{},
		names: map[string]string{}, swept: map[string]*sweptKey{}}
}

func (v *view) lookup(key string) *member {
	prefix, id := splitKey(key)
	return v.byPrefix[prefix][id]
}

func (v *view) add(m *member) {
	v.drop(m.key)
	if name, ok := v.names[m.node]; ok {
		m.node = name
	} else {
		v.names[m.node] = m.node
	}
	prefix := m.prefix()
	if v.byPrefix[prefix] == nil {
		v.byPrefix[prefix] = map[string]*member{}
	}
	v.byPrefix[prefix][m.id] = m
	if v.byNode[m.node] == nil {
		v.byNode[m.node] = map[string]*member{}
	}
	v.byNode[m.node][m.key] = m
}

func (v *view) drop(key string) {
	m := v.lookup(key)
	if m == nil {
		return
	}
	prefix := m.prefix()
	if delete(v.byPrefix[prefix], m.id); len(v.byPrefix[prefix]) == 0 {
		delete(v.byPrefix, prefix)
	}
	if delete(v.byNode[m.node], key); len(v.byNode[m.node]) == 0 {
		delete(v.byNode, m.node)
		delete(v.names, m.node)
	}
}

// memberOf reads a member entry; ok false for heartbeat keys and strays.
func memberOf(e jetstream.KeyValueEntry) (*member, bool) {
	if _, _, ok := parseKey(e.Key()); !ok {
		return nil, false
	}
	var val value
	if json.Unmarshal(e.Value(), &val) != nil {
		return nil, false
	}
	_, id := splitKey(e.Key())
	return &member{key: e.Key(), id: id, node: val.Node, user: val.User, rev: e.Revision()}, true
}

// errWatchEnded: the bucket's watch closed (its consumer could not be made
// again: the bucket is gone, or the connection closed).
var errWatchEnded = errors.New("presence watch ended")

// mirror keeps the view: it follows the whole bucket, and follows it again
// whenever the watch ends, making the bucket again if it is gone. ready
// closes once the first copy is complete.
func (r *Registry) mirror(ready chan struct{}) {
	defer r.wg.Done()
	for {
		err := r.follow(ready)
		if r.ctx.Err() != nil {
			return
		}
		if err != nil {
			r.warn.Warn("presence bucket watch ended: following it again", "err", err)
			select {
			case <-r.ctx.Done():
				return
			case <-time.After(r.beatEvery()):
			}
		}
		ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
		if err := r.checkBucket(ctx, false); err != nil && r.ctx.Err() == nil {
			r.warn.Warn("failed to check presence bucket", "err", err)
		}
		cancel()
	}
}

// follow copies the bucket into a new view, swaps it in once complete,
// then applies every change until the watch ends or is restarted.
func (r *Registry) follow(ready chan struct{}) error {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	r.mu.Lock()
	r.watchCancel = cancel
	kv := r.kv
	r.mu.Unlock()
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("failed to watch presence bucket: %w", err)
	}
	defer func() { _ = w.Stop() }()
	next := newView()
	initial := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errWatchEnded
			}
			if e == nil {
				if initial {
					initial = false
					r.swapIn(next)
					select {
					case <-ready:
					default:
						close(ready)
					}
				}
				continue
			}
			if initial {
				r.seeInitial(&next, e)
			} else {
				r.see(e)
			}
		}
	}
}

// nodeOf is the node of a heartbeat key, "" for any other key.
func nodeOf(key string) string {
	node, ok := strings.CutPrefix(key, "n.")
	if !ok {
		return ""
	}
	return node
}

func (r *Registry) seeInitial(v *view, e jetstream.KeyValueEntry) {
	v.rev = max(v.rev, e.Revision())
	put := e.Operation() == jetstream.KeyValuePut
	if node := nodeOf(e.Key()); node != "" {
		if put && node != r.node {
			r.mu.Lock()
			r.sawLocked(node, time.Now()) // its key lives: written within the TTL
			r.mu.Unlock()
		}
		return
	}
	v.drop(e.Key()) // gone, or held by another node now
	if m, ok := memberOf(e); ok && put && m.node != r.node {
		v.add(m)
	}
}

func (r *Registry) swapIn(v view) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byPrefix, r.byNode, r.names, r.rev = v.byPrefix, v.byNode, v.names, v.rev
	for key := range r.swept {
		if r.lookup(key) == nil {
			delete(r.swept, key)
		}
	}
}

// see applies one change. A key the sweeper announced as left that comes
// back held by a live node (a socket that recovered there while its node
// was taken for dead) is announced as joined again.
func (r *Registry) see(e jetstream.KeyValueEntry) {
	now := time.Now()
	put := e.Operation() == jetstream.KeyValuePut
	r.mu.Lock()
	r.rev = max(r.rev, e.Revision())
	if node := nodeOf(e.Key()); node != "" {
		if put && node != r.node {
			r.sawLocked(node, now)
		}
		r.mu.Unlock()
		return
	}
	var back *member
	r.drop(e.Key())                                    // gone, or held by this node now
	if put && bytes.HasPrefix(e.Value(), r.ownValue) { // this node's own write, back: nothing to read
		delete(r.swept, e.Key())
		r.mu.Unlock()
		return
	}
	m, ok := memberOf(e)
	if !put || !ok || m.node == r.node {
		delete(r.swept, e.Key())
	} else {
		r.add(m)
		if s := r.swept[m.key]; s != nil && s.rev != m.rev {
			if r.aliveLocked(m.node, now) {
				delete(r.swept, m.key)
				back = m
			} else {
				s.rev, s.purged = m.rev, false // a late write of the dead node
			}
		}
	}
	r.mu.Unlock()
	if back != nil {
		r.announce(back.entry(), "joined")
	}
}

// checkBucket makes the bucket again if it is gone, and when the bucket
// is not the one the view follows (made again, by this node or another),
// stores this node's members again, silently (nobody announced them as
// left), and restarts the watch. force restarts the watch in any case.
func (r *Registry) checkBucket(ctx context.Context, force bool) error {
	js := r.b.JetStream()
	kv, err := js.KeyValue(ctx, Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = r.openBucket(ctx)
	}
	if err != nil {
		return err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("failed to read presence bucket: %w", err)
	}
	var created time.Time
	if s, ok := st.(*jetstream.KeyValueBucketStatus); ok {
		created = s.StreamInfo().Created
	}
	r.mu.Lock()
	again := !r.created.IsZero() && !created.Equal(r.created)
	r.created, r.kv = created, kv
	if again {
		r.nodeRev, r.echo = 0, 0
	}
	restart := r.watchCancel
	r.mu.Unlock()
	if again {
		r.warn.Warn("presence bucket made again: storing this node's members again")
		r.resync(true)
	}
	if (again || force) && restart != nil {
		restart()
	}
	return nil
}

// stuck reports a view that has not taken in this node's last heartbeat
// write (a tick ago), and expects the next one.
func (r *Registry) stuck() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	stuck := r.echo != 0 && r.rev < r.echo
	r.echo = 0
	return stuck
}

// restartWatch makes the view follow the bucket again, from a new copy.
func (r *Registry) restartWatch() {
	r.mu.Lock()
	restart := r.watchCancel
	r.mu.Unlock()
	if restart != nil {
		restart()
	}
}
