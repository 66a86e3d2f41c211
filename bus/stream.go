package bus

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publish stores msg, published on its public subject (sockbus.io.… or
// sockbus.ws.…), in its name's log without waiting for JetStream's
// acknowledgement. Order is kept per node. Where streams republish (a
// cluster, a NATS listener, an external NATS) it is not retried past
// nats.go's own two resends on no responders, so it can be lost while its
// stream elects a leader: nobody waits on it (use PublishStored when a
// client waits for an ack). On a single node that publishes live itself it
// is PublishStored without a callback (live.go).
func (b *Bus) Publish(msg *Msg) error {
	if b.liveByNode {
		// Through the reply multiplexer like every stored publish: the node
		// publishes it live once its acknowledgement comes (live.go).
		return b.PublishStored(msg, func(err error) {
			if err != nil {
				b.log.Warn("bus publish not stored", "subject", msg.Subject, "err", err)
			}
		})
	}
	_, err := b.publishAsync(msg)
	return err
}

// publishAsync is Publish with JetStream's future (for tests).
func (b *Bus) publishAsync(msg *Msg) (jetstream.PubAckFuture, error) {
	m := msg.toNATS()
	m.Subject = b.StoreSubject(m.Subject)
	f, err := b.js.PublishMsgAsync(m)
	if err != nil {
		return nil, fmt.Errorf("failed to publish on %s: %w", m.Subject, err)
	}
	return f, nil
}

// PublishLive sends msg to live subscribers only (nothing is stored).
func (b *Bus) PublishLive(msg *Msg) error {
	if err := b.nc.PublishMsg(msg.toNATS()); err != nil {
		return fmt.Errorf("failed to publish on %s: %w", msg.Subject, err)
	}
	return nil
}

// SubscribeSync subscribes for Subscription.Next; like Subscribe, the
// server has registered the subscription when it returns.
func (b *Bus) SubscribeSync(subject string) (*Subscription, error) {
	sub, err := b.nc.SubscribeSync(subject)
	return b.registered(subject, sub, err)
}

// SubscribeFew is SubscribeSync for a caller that expects at most pending
// messages not yet taken by Next (one answer per node, say): past that,
// messages are dropped. SubscribeSync's buffer is nats.go's 65,536 slots,
// 512 KiB allocated and cleared per subscription, which a recovery's one
// question to the cluster does not need.
func (b *Bus) SubscribeFew(subject string, pending int) (*Subscription, error) {
	ch := make(chan *nats.Msg, max(pending, 1))
	sub, err := b.nc.ChanSubscribe(subject, ch)
	s, err := b.registered(subject, sub, err)
	if err != nil {
		return nil, err
	}
	s.ch = ch
	return s, nil
}

// Subscribe delivers every message on subject to h, one at a time, in order,
// on a goroutine owned by the connection. h must not block. When it returns,
// the server has registered the subscription.
func (b *Bus) Subscribe(subject string, h func(*Msg)) (*Subscription, error) {
	if b.liveByNode && strings.HasPrefix(subject, LivePrefix) {
		return b.subscribeLocal(subject, h) // stored events come directly (local.go)
	}
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) { h(fromNATS(m)) })
	return b.registered(subject, sub, err)
}

// SubscribeQueue is Subscribe shared with the other nodes' subscriptions
// in queue: each message reaches one of them (a request one node answers).
func (b *Bus) SubscribeQueue(subject, queue string, h func(*Msg)) (*Subscription, error) {
	sub, err := b.nc.QueueSubscribe(subject, queue, func(m *nats.Msg) { h(fromNATS(m)) })
	return b.registered(subject, sub, err)
}

// registered completes a new subscription with a round trip, so the server
// has the interest before we tell a client it is connected (a publish right
// after must reach it), and wraps a failure once.
func (b *Bus) registered(subject string, sub *nats.Subscription, err error) (*Subscription, error) {
	if err == nil {
		if err = b.nc.Flush(); err != nil {
			_ = sub.Unsubscribe()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("failed to subscribe to %s: %w", subject, err)
	}
	b.syncRoutes()
	return &Subscription{sub: sub}, nil
}

// syncRoutes returns once every other node of the cluster knows this
// node's subscriptions so far, or after a second. A server tells its peers
// about a new subscription asynchronously, over the route it later sends
// messages on; a request that reaches a peer over that route, sent after
// the subscription, arrives after it. So when every node has answered this
// node's request, a message stored and republished on any node (a stream
// leader) reaches the new subscription: a client told it is connected
// misses nothing published after that.
func (b *Bus) syncRoutes() {
	if b.cfg.Cluster.Name == "" {
		return
	}
	want := b.Interest(syncSubject) // one per node, this one included
	if want <= 1 {
		return
	}
	inbox := b.nc.NewRespInbox()
	sub, err := b.nc.SubscribeSync(inbox)
	if err != nil {
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := b.nc.PublishRequest(syncSubject, inbox, nil); err != nil {
		return
	}
	deadline := time.Now().Add(time.Second)
	for got := 0; got < want; got++ {
		if _, err := sub.NextMsg(time.Until(deadline)); err != nil {
			b.log.Debug("cluster nodes did not all confirm a subscription", "answered", got, "nodes", want, "err", err)
			return
		}
	}
}

// StoredMsg is one message read back from a stream.
type StoredMsg struct {
	Seq     uint64
	Subject string
	Header  Header
	Data    []byte
	Time    time.Time // when the stream stored it
}

// HeaderTimeStamp is on JetStream's direct-get answers: when the message
// was stored (RFC 3339, nanoseconds).
const HeaderTimeStamp = "Nats-Time-Stamp"
