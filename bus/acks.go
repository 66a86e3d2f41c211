package bus

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrBusy reports too many publishes waiting for JetStream's acknowledgement.
var ErrBusy = errors.New("bus: too many publishes waiting to be stored")

// ErrNotStored reports a publish JetStream did not acknowledge within the
// store timeout, retries included.
var ErrNotStored = errors.New("bus: publish not acknowledged in time")

// DefaultStoreTimeout bounds how long PublishStored keeps trying: longer
// than a stream's leader election after a crash (Raft election timeout,
// 4-9 s), shorter than the ack timeouts clients commonly set.
const DefaultStoreTimeout = 15 * time.Second

const (
	maxPendingAcks = 1 << 16
	// attemptTimeout resends a publish nobody answered: it was in flight
	// to a leader that died. The message id makes the resend harmless if
	// the first copy was stored after all.
	attemptTimeout = 2 * time.Second
	// firstBackoff and maxBackoff space the resends of a publish refused
	// because its stream has no leader (503 no responders, 10008).
	firstBackoff = 50 * time.Millisecond
	maxBackoff   = 400 * time.Millisecond
	// sweepEvery is how often pending publishes are checked for resends
	// and expiry.
	sweepEvery = 50 * time.Millisecond
)

// ackMux resolves the acknowledgements of PublishStored on one node-wide
// reply subscription: no future, channel or goroutine per publish. It also
// retries: every publish carries a message id (Nats-Msg-Id), so a stream
// stores it once however many times it is sent.
type ackMux struct {
	b       *Bus
	prefix  string // reply subjects: prefix + id
	msgID   string // message ids: msgID + id, unique across nodes and restarts
	timeout time.Duration

	mu      sync.Mutex
	sub     *nats.Subscription
	next    uint64
	pending map[uint64]*pendingAck
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

type pendingAck struct {
	fn      func(error)
	msg     *nats.Msg
	first   time.Time // first sent: the store timeout counts from here
	sent    time.Time // last sent; zero while waiting to be resent
	retryAt time.Time // when a refused publish is resent
	tries   int
}

func newAckMux(b *Bus, timeout time.Duration) *ackMux {
	var p [8]byte
	_, _ = rand.Read(p[:])
	tag := hex.EncodeToString(p[:])
	return &ackMux{b: b, prefix: "_INBOX.sockbus-acks." + tag + ".", msgID: "sb-" + tag + "-",
		timeout: timeout, pending: map[uint64]*pendingAck{}}
}

// PublishStored stores msg in its stream and calls fn once JetStream
// acknowledged it (nil), refused it for a reason a retry cannot fix, or
// could not store it within the store timeout (ErrNotStored). While the
// stream has no leader (an election after a crash takes 4-9 s) msg is
// resent with backoff; it is stored at most once. fn runs on the bus's
// acknowledgement goroutine, in no particular order across publishes, and
// must not block.
func (b *Bus) PublishStored(msg *nats.Msg, fn func(error)) error {
	msg.Subject = b.StoreSubject(msg.Subject)
	id, err := b.acks.register(msg, fn)
	if err != nil {
		return err
	}
	if err := b.nc.PublishMsg(msg); err != nil {
		b.acks.take(id)
		return fmt.Errorf("failed to publish on %s: %w", msg.Subject, err)
	}
	return nil
}

// register sets msg's reply subject and message id and tracks it.
func (a *ackMux) register(msg *nats.Msg, fn func(error)) (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return 0, nats.ErrConnectionClosed
	}
	if len(a.pending) >= maxPendingAcks {
		return 0, ErrBusy
	}
	if a.sub == nil {
		sub, err := a.b.nc.Subscribe(a.prefix+"*", a.onAck)
		if err != nil {
			return 0, fmt.Errorf("failed to subscribe for acks: %w", err)
		}
		_ = sub.SetPendingLimits(-1, -1) // bounded by maxPendingAcks instead
		a.sub = sub
		a.stop, a.done = make(chan struct{}), make(chan struct{})
		go a.sweep()
	}
	a.next++
	key := strconv.FormatUint(a.next, 36)
	msg.Reply = a.prefix + key
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	msg.Header[nats.MsgIdHdr] = []string{a.msgID + key}
	now := time.Now()
	a.pending[a.next] = &pendingAck{fn: fn, msg: msg, first: now, sent: now, tries: 1}
	return a.next, nil
}

func (a *ackMux) take(id uint64) func(error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pending[id]
	if !ok {
		return nil
	}
	delete(a.pending, id)
	return p.fn
}

func (a *ackMux) onAck(m *nats.Msg) {
	id, err := strconv.ParseUint(m.Subject[len(a.prefix):], 36, 64)
	if err != nil {
		return
	}
	err = pubAckError(m)
	if err != nil && retryable(err) {
		if a.retryLater(id) {
			return
		}
		err = fmt.Errorf("%w: %w", ErrNotStored, err)
	}
	if fn := a.take(id); fn != nil {
		fn(err)
	}
}

// retryLater schedules a refused publish to be resent, unless its time is
// up (then the caller fails it).
func (a *ackMux) retryLater(id uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pending[id]
	if !ok {
		return true // answered already (an earlier copy's late refusal)
	}
	now := time.Now()
	wait := backoff(p.tries)
	if now.Add(wait).Sub(p.first) >= a.timeout {
		return false
	}
	p.sent, p.retryAt = time.Time{}, now.Add(wait)
	return true
}

// backoff is the wait before the next resend after tries refused sends.
func backoff(tries int) time.Duration {
	d := firstBackoff << min(tries-1, 8)
	return min(d, maxBackoff)
}

// errNoLeader marks a publish refused because its stream has no leader now.
var errNoLeader = errors.New("bus: stream has no leader")

// retryable reports refusals a stream gives while it elects a leader.
func retryable(err error) bool { return errors.Is(err, errNoLeader) }

// pubAckError reads a JetStream publish acknowledgement: nil for
// {"stream":...,"seq":...} (also a duplicate: stored by an earlier copy), an
// error for {"error":{...}} or a status reply (503: no stream listens on
// the subject, i.e. its leader is gone and none is elected yet).
func pubAckError(m *nats.Msg) error {
	if st := m.Header.Get("Status"); st != "" {
		err := fmt.Errorf("bus: publish not stored: status %s %s", st, m.Header.Get("Description"))
		if st == "503" {
			err = fmt.Errorf("%w: %w", errNoLeader, err)
		}
		return err
	}
	if !bytes.Contains(m.Data, []byte(`"error"`)) {
		return nil
	}
	var r struct {
		Error *struct {
			Status      int    `json:"code"`
			Code        int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &r); err != nil || r.Error == nil {
		return fmt.Errorf("bus: publish not stored: %s", m.Data)
	}
	err := fmt.Errorf("bus: publish not stored: %s (%d)", r.Error.Description, r.Error.Code)
	if r.Error.Status == 503 || r.Error.Code == int(errCodeClusterNotAvail) {
		err = fmt.Errorf("%w: %w", errNoLeader, err)
	}
	return err
}

// sweep resends publishes that were refused or never answered, in the
// order they were first published, and fails those out of time.
func (a *ackMux) sweep() {
	defer close(a.done)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case now := <-t.C:
			late, resend := a.due(now)
			for _, fn := range late {
				fn(ErrNotStored)
			}
			for _, m := range resend {
				// A failed resend is retried on a later sweep.
				_ = a.b.nc.PublishMsg(m)
			}
		}
	}
}

// due collects what the sweep must fail and resend at now.
func (a *ackMux) due(now time.Time) (late []func(error), resend []*nats.Msg) {
	type item struct {
		id  uint64
		msg *nats.Msg
	}
	var items []item
	a.mu.Lock()
	for id, p := range a.pending {
		switch {
		case now.Sub(p.first) >= a.timeout:
			late = append(late, p.fn)
			delete(a.pending, id)
		case p.sent.IsZero() && !now.Before(p.retryAt),
			!p.sent.IsZero() && now.Sub(p.sent) >= attemptTimeout:
			p.sent, p.retryAt = now, time.Time{}
			p.tries++
			items = append(items, item{id, p.msg})
		}
	}
	a.mu.Unlock()
	sort.Slice(items, func(i, j int) bool { return items[i].id < items[j].id })
	for _, it := range items {
		resend = append(resend, it.msg)
	}
	return late, resend
}

// close waits (bounded by ctx) for outstanding acknowledgements, retries
// included, then fails the rest and stops the sweeper.
func (a *ackMux) close(ctx context.Context) {
	for {
		a.mu.Lock()
		n := len(a.pending)
		if n == 0 || ctx.Err() != nil {
			a.closed = true
			rest := a.pending
			a.pending = map[uint64]*pendingAck{}
			stop, done := a.stop, a.done
			a.mu.Unlock()
			for _, p := range rest {
				p.fn(ErrNotStored)
			}
			if stop != nil {
				close(stop)
				<-done
			}
			return
		}
		a.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond): // polling outstanding acks during shutdown only
		}
	}
}
