package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// Msg is one bus message, as published and as delivered. A delivered Msg
// is built once per bus message, whatever the number of receivers it fans
// out to, and the bus never reuses its Data: a handler may keep Data (and
// share it, as a pre-built frame does) but must not change it.
type Msg struct {
	// Subject is where the message is published.
	Subject string
	// Reply is the subject answers go to; empty when none is expected.
	Reply string
	// Header holds the message's headers (see the Header* names).
	Header Header
	// Data is the body.
	Data []byte
}

// Header is a bus message's headers. Keys are case-sensitive, as NATS
// keeps them; the zero value (nil) reads as empty.
type Header map[string][]string

// Get is the first value of key, "" when it has none.
func (h Header) Get(key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set makes value key's only value.
func (h Header) Set(key, value string) { h[key] = []string{value} }

// Values are every value of key.
func (h Header) Values(key string) []string { return h[key] }

// NoResponders reports the status reply NATS sends instead of answers
// when nobody subscribes to a request's subject.
func (m *Msg) NoResponders() bool {
	return len(m.Data) == 0 && m.Header.Get(HeaderStatus) == StatusNoResponders
}

// fromNATS wraps a received message: the header map and the body are
// shared, not copied.
func fromNATS(m *nats.Msg) *Msg {
	return &Msg{Subject: m.Subject, Reply: m.Reply, Header: Header(m.Header), Data: m.Data}
}

// toNATS is msg as nats.go publishes it (header map and body shared).
func (m *Msg) toNATS() *nats.Msg {
	return &nats.Msg{Subject: m.Subject, Reply: m.Reply, Header: nats.Header(m.Header), Data: m.Data}
}

// Subscription is interest in a subject, from Subscribe, SubscribeSync,
// SubscribeFew or SubscribePresence, until Unsubscribe. Its methods are safe for
// concurrent use.
type Subscription struct {
	sub   *nats.Subscription
	ch    chan *nats.Msg // SubscribeFew's messages; nil otherwise
	unsub func()         // ends a local live subscription (local.go); nil otherwise
}

// Subject is the subject (or pattern) subscribed to.
func (s *Subscription) Subject() string { return s.sub.Subject }

// Unsubscribe ends the interest; messages already received are dropped.
func (s *Subscription) Unsubscribe() error {
	if s.unsub != nil {
		s.unsub()
	}
	if err := s.sub.Unsubscribe(); err != nil {
		return fmt.Errorf("failed to unsubscribe from %s: %w", s.sub.Subject, err)
	}
	return nil
}

// Next waits for the next message of a SubscribeSync or SubscribeFew
// subscription, until ctx ends (ctx.Err() is returned then, as it is).
func (s *Subscription) Next(ctx context.Context) (*Msg, error) {
	if s.ch != nil {
		select {
		case m := <-s.ch:
			return fromNATS(m), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	m, err := s.sub.NextMsgWithContext(ctx)
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return nil, fmt.Errorf("failed to receive on %s: %w", s.sub.Subject, err)
	}
	return fromNATS(m), nil
}

// NextTimeout is Next bounded by a duration instead of a context.
func (s *Subscription) NextTimeout(d time.Duration) (*Msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.Next(ctx)
}
