package bus

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrBusy reports too many publishes waiting for JetStream's acknowledgement.
var ErrBusy = errors.New("bus: too many publishes waiting to be stored")

// ErrNotStored reports a publish JetStream did not acknowledge in time.
var ErrNotStored = errors.New("bus: publish not acknowledged in time")

const (
	maxPendingAcks = 1 << 16
	ackTimeout     = 10 * time.Second
)

// ackMux resolves the acknowledgements of PublishStored on one node-wide
// reply subscription: no future, channel or goroutine per publish.
type ackMux struct {
	b      *Bus
	prefix string

	mu      sync.Mutex
	sub     *nats.Subscription
	next    uint64
	pending map[uint64]pendingAck
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

type pendingAck struct {
	fn func(error)
	at time.Time
}

func newAckMux(b *Bus) *ackMux {
	var p [8]byte
	_, _ = rand.Read(p[:])
	return &ackMux{b: b, prefix: "_INBOX.sockbus-acks." + hex.EncodeToString(p[:]) + ".", pending: map[uint64]pendingAck{}}
}

// PublishStored stores msg in its stream and calls fn once JetStream
// acknowledged it (nil) or refused it, or after 10s without an answer
// (ErrNotStored). fn runs on the bus's acknowledgement goroutine, in no
// particular order across publishes, and must not block.
func (b *Bus) PublishStored(msg *nats.Msg, fn func(error)) error {
	id, err := b.acks.register(fn)
	if err != nil {
		return err
	}
	msg.Subject = b.StoreSubject(msg.Subject)
	msg.Reply = b.acks.prefix + strconv.FormatUint(id, 36)
	if err := b.nc.PublishMsg(msg); err != nil {
		b.acks.take(id)
		return fmt.Errorf("failed to publish on %s: %w", msg.Subject, err)
	}
	return nil
}

func (a *ackMux) register(fn func(error)) (uint64, error) {
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
	a.pending[a.next] = pendingAck{fn: fn, at: time.Now()}
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
	fn := a.take(id)
	if fn == nil {
		return
	}
	fn(pubAckError(m))
}

// pubAckError reads a JetStream publish acknowledgement: nil for
// {"stream":...,"seq":...}, an error for {"error":{...}} or a status reply
// (503: no stream listens on the subject).
func pubAckError(m *nats.Msg) error {
	if st := m.Header.Get("Status"); st != "" {
		return fmt.Errorf("bus: publish not stored: status %s %s", st, m.Header.Get("Description"))
	}
	if !bytes.Contains(m.Data, []byte(`"error"`)) {
		return nil
	}
	var r struct {
		Error *struct {
			Code        int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &r); err != nil || r.Error == nil {
		return fmt.Errorf("bus: publish not stored: %s", m.Data)
	}
	return fmt.Errorf("bus: publish not stored: %s (%d)", r.Error.Description, r.Error.Code)
}

// sweep fails acknowledgements that never came.
func (a *ackMux) sweep() {
	defer close(a.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case now := <-t.C:
			var late []func(error)
			a.mu.Lock()
			for id, p := range a.pending {
				if now.Sub(p.at) > ackTimeout {
					late = append(late, p.fn)
					delete(a.pending, id)
				}
			}
			a.mu.Unlock()
			for _, fn := range late {
				fn(ErrNotStored)
			}
		}
	}
}

// close waits (bounded by ctx) for outstanding acknowledgements, then
// fails the rest and stops the sweeper.
func (a *ackMux) close(ctx context.Context) {
	for {
		a.mu.Lock()
		n := len(a.pending)
		if n == 0 || ctx.Err() != nil {
			a.closed = true
			rest := a.pending
			a.pending = map[uint64]pendingAck{}
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
