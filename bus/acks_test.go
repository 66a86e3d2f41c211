package bus

import (
	"github.com/sockbus/sockbus/internal/eventually"

	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// storedResult collects PublishStored outcomes.
type storedResult struct {
	i   int
	err error
	at  time.Duration
}

func publishStoredN(t *testing.T, b *Bus, subject string, n int) <-chan storedResult {
	t.Helper()
	out := make(chan storedResult, n)
	start := time.Now()
	for i := range n {
		m := &Msg{Subject: subject, Data: []byte(strconv.Itoa(i))}
		if err := b.PublishStored(m, func(err error) { out <- storedResult{i, err, time.Since(start)} }); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// streamOf finds the layout stream (and its config) holding subject.
func streamOf(t *testing.T, b *Bus, subject string) jetstream.StreamConfig {
	t.Helper()
	stored := b.StoreSubject(subject)
	for _, c := range b.streamConfigs(nil, nil) {
		if c.Subjects[0][:len(c.Subjects[0])-1] == stored[:len(c.Subjects[0])-1] {
			return c
		}
	}
	t.Fatalf("no stream for %s", stored)
	return jetstream.StreamConfig{}
}

func msgCount(t *testing.T, b *Bus, name string) uint64 {
	t.Helper()
	s, err := b.js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().State.Msgs
}

// TestPublishStoredRidesOutNoLeader: while the stream cannot take a
// publish (here: it is gone, which JetStream answers exactly like a stream
// without a leader, 503 no responders), PublishStored resends with backoff;
// once the stream is back every event is stored once, in order, and acked.
func TestPublishStoredRidesOutNoLeader(t *testing.T) {
	b := startBus(t, Config{})
	subject := ChannelSubject("elect")
	cfg := streamOf(t, b, subject)
	if cfg.Duplicates != DefaultStoreTimeout+attemptTimeout {
		t.Fatalf("duplicate window %v, want the store timeout + one attempt", cfg.Duplicates)
	}
	ctx := context.Background()
	if err := b.js.DeleteStream(ctx, cfg.Name); err != nil {
		t.Fatal(err)
	}
	const n = 20
	results := publishStoredN(t, b, subject, n)
	outage := 700 * time.Millisecond
	select {
	case r := <-results:
		t.Fatalf("event %d answered during the outage: %v", r.i, r.err)
	case <-time.After(outage): // the outage itself: nothing to poll for
	}
	if _, err := b.js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for range n {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatalf("event %d: %v", r.i, r.err)
			}
			if r.at > outage+2*maxBackoff {
				t.Errorf("event %d acked %v after publish, outage %v: backoff too long", r.i, r.at, outage)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("events not acked after the stream came back")
		}
	}
	s, err := b.js.Stream(ctx, cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().State.Msgs; got != n {
		t.Fatalf("stream holds %d messages, want %d (each once)", got, n)
	}
	for seq := uint64(1); seq <= n; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Data) != strconv.Itoa(int(seq-1)) {
			t.Fatalf("seq %d holds %q: out of order", seq, m.Data)
		}
	}
}

// TestPublishStoredResendsLostAndDedupes: a publish that got no answer (it
// was in flight to a leader that died) is resent after attemptTimeout; a
// copy that reaches the stream twice is stored once and acked as stored.
func TestPublishStoredResendsLostAndDedupes(t *testing.T) {
	b := startBus(t, Config{})
	subject := ChannelSubject("lost")
	cfg := streamOf(t, b, subject)

	// Lost: registered (as PublishStored does) but never sent.
	m := nats.NewMsg(b.StoreSubject(subject))
	m.Data = []byte("lost")
	done := make(chan error, 1)
	start := time.Now()
	id := publishLost(t, b, &Sender{}, m, func(err error) { done <- err }) // m's header map is the bus's now
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < attemptTimeout {
			t.Fatalf("acked after %v, before any resend", took)
		}
	case <-time.After(attemptTimeout + 5*time.Second):
		t.Fatal("lost publish never resent")
	}
	if got := msgCount(t, b, cfg.Name); got != 1 {
		t.Fatalf("stream holds %d, want 1", got)
	}

	// Twice: the same message (same Nats-Msg-Id) sent again is a duplicate.
	m.Reply, m.Header = "", nats.Header{headerMsgID: {id}}
	resp, err := b.nc.RequestMsg(m, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := pubAckError(resp); err != nil {
		t.Fatalf("duplicate answered %v, want a stored ack", err)
	}
	var ack jetstream.PubAck
	if err := jsonUnmarshal(resp.Data, &ack); err != nil || !ack.Duplicate {
		t.Fatalf("second copy answered %s, want a duplicate ack", resp.Data)
	}
	if got := msgCount(t, b, cfg.Name); got != 1 {
		t.Fatalf("stream holds %d after a duplicate, want 1", got)
	}
}

// TestPublishStoredGivesUp: a stream that stays without a leader past the
// store timeout gets ErrNotStored, no earlier, and stores nothing.
func TestPublishStoredGivesUp(t *testing.T) {
	const timeout = 600 * time.Millisecond
	b := startBus(t, Config{StoreTimeout: timeout})
	subject := ChannelSubject("gone")
	cfg := streamOf(t, b, subject)
	if cfg.Duplicates != timeout+attemptTimeout {
		t.Fatalf("duplicate window %v, want %v", cfg.Duplicates, timeout+attemptTimeout)
	}
	if err := b.js.DeleteStream(context.Background(), cfg.Name); err != nil {
		t.Fatal(err)
	}
	results := publishStoredN(t, b, subject, 3)
	for range 3 {
		select {
		case r := <-results:
			if !errors.Is(r.err, ErrNotStored) {
				t.Fatalf("event %d: %v, want ErrNotStored", r.i, r.err)
			}
			if r.at < timeout-maxBackoff || r.at > timeout+time.Second {
				t.Fatalf("event %d failed after %v, want about %v", r.i, r.at, timeout)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no answer past the store timeout")
		}
	}
}

func TestPubAckErrorKinds(t *testing.T) {
	noResp := &nats.Msg{Header: nats.Header{"Status": {"503"}}}
	unavailable := &nats.Msg{Data: []byte(`{"error":{"code":503,"err_code":10008,"description":"JetStream system temporarily unavailable"}}`)}
	tooBig := &nats.Msg{Data: []byte(`{"error":{"code":400,"err_code":10054,"description":"message size exceeds maximum allowed"}}`)}
	dup := &nats.Msg{Data: []byte(`{"stream":"S","seq":3,"duplicate":true}`)}
	for _, c := range []struct {
		m          *nats.Msg
		err, retry bool
	}{{noResp, true, true}, {unavailable, true, true}, {tooBig, true, false}, {dup, false, false}} {
		err := pubAckError(c.m)
		if (err != nil) != c.err || (err != nil && retryable(err) != c.retry) {
			t.Errorf("%s %v: err %v retryable %v", c.m.Data, c.m.Header, err, err != nil && retryable(err))
		}
	}
}

// publishLost registers msg with s as PublishStoredBy does, as if sent,
// but never sends it: a publish in flight to a leader that died. It returns
// the message id.
func publishLost(t *testing.T, b *Bus, s *Sender, msg *nats.Msg, fn func(error)) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := b.replies.register(s, *msg, b.liveSubject(PublicSubject(msg.Subject)), ackCallback{fn: fn}, "")
	if err != nil {
		t.Fatal(err)
	}
	p.tries, p.sent, p.conn = 1, time.Now(), b.connGen() // sent on the current connection
	s.q = append(s.q, p)
	return p.msgID[0]
}

// storedInOrder checks that the stream holds n messages, each once, the
// i-th stored being want(i): one sender's publishes in its order.
func storedInOrder(t *testing.T, b *Bus, stream string, n int, want func(i int) string) {
	t.Helper()
	ctx := context.Background()
	st, err := b.js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; got != uint64(n) {
		t.Fatalf("stream holds %d messages, want %d (each once)", got, n)
	}
	var order []string
	for seq := uint64(1); seq <= uint64(n); seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, string(m.Data))
	}
	for i, v := range order {
		if v != want(i) {
			t.Fatalf("stored out of the sender's order: %q", order)
		}
	}
}

// TestSenderKeepsOrderThroughResends: the leader crash of issue 15 in one
// process. The first of a sender's publishes is lost in flight (no answer
// ever), the stream then has no leader (deleted: answered 503 like a stream
// in an election) while 30 more are published, and comes back. Every
// publish is stored once, in the sender's order: the later ones, refused,
// wait behind the lost one instead of being stored before its resend.
func TestSenderKeepsOrderThroughResends(t *testing.T) {
	b := startBus(t, Config{})
	subject := ChannelSubject("order")
	cfg := streamOf(t, b, subject)
	ctx := context.Background()
	if err := b.js.DeleteStream(ctx, cfg.Name); err != nil {
		t.Fatal(err)
	}
	const n = 31
	s := &Sender{}
	results := make(chan storedResult, n)
	for i := range n {
		m := &Msg{Subject: subject, Data: []byte(strconv.Itoa(i))}
		fn := func(err error) { results <- storedResult{i: i, err: err} }
		if i == 0 {
			publishLost(t, b, s, &nats.Msg{Subject: b.StoreSubject(subject), Data: m.Data}, fn)
			continue
		}
		if err := b.PublishStoredBy(s, m, fn); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case r := <-results:
		t.Fatalf("event %d answered during the outage: %v", r.i, r.err)
	case <-time.After(500 * time.Millisecond): // the outage itself: nothing to poll for
	}
	if _, err := b.js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for range n {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatalf("event %d: %v", r.i, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("events not acked after the stream came back")
		}
	}
	storedInOrder(t, b, cfg.Name, n, strconv.Itoa)
	if s.first() != nil || s.stalled {
		t.Fatalf("sender keeps %d publishes (stalled %v) after all were answered", len(s.q)-s.head, s.stalled)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestPublishStoredAsDedupesByCallersID: two publishes with one caller id
// are stored once and both told the same sequence (the second a
// duplicate); another id is stored apart. (The HTTP API's Idempotency-Key.)
func TestPublishStoredAsDedupesByCallersID(t *testing.T) {
	b := startBus(t, Config{})
	subject := ChannelSubject("idem")
	cfg := streamOf(t, b, subject)
	publish := func(id, data string) Stored {
		t.Helper()
		type result struct {
			ack Stored
			err error
		}
		done := make(chan result, 1)
		if err := b.PublishStoredAs(&Msg{Subject: subject, Data: []byte(data)}, id, func(ack Stored, err error) { done <- result{ack, err} }); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatal(r.err)
			}
			return r.ack
		case <-time.After(10 * time.Second):
			t.Fatal("no store acknowledgement")
		}
		return Stored{}
	}
	first := publish("key-1", "a")
	again := publish("key-1", "a")
	other := publish("key-2", "b")
	if first.Seq == 0 || first.Duplicate || first.Stream != cfg.Name {
		t.Fatalf("first publish stored as %+v", first)
	}
	if again.Seq != first.Seq || !again.Duplicate {
		t.Fatalf("retry stored as %+v, want seq %d as a duplicate", again, first.Seq)
	}
	if other.Seq == first.Seq || other.Duplicate {
		t.Fatalf("another id stored as %+v", other)
	}
	if got := msgCount(t, b, cfg.Name); got != 2 {
		t.Fatalf("stream holds %d, want 2", got)
	}
	if w := b.DupWindow(); w != DefaultStoreTimeout+attemptTimeout {
		t.Fatalf("DupWindow = %v", w)
	}
}

// TestPublishByWaitsBehindUnfinished: emits nobody waits for keep the
// sender's order. While an earlier publish of the sender is unanswered (lost
// in flight, its stream gone as in an election), they are tracked behind it
// and stored after its resend; once the sender has nothing unfinished, one
// is sent untracked (no acknowledgement asked, nothing pending) and stored.
func TestPublishByWaitsBehindUnfinished(t *testing.T) {
	// A NATS listener: the streams republish, so an untracked publish is
	// delivered live too (on a node that publishes live itself every
	// PublishBy is tracked: TestNodePublishesStoredEventsLive).
	b := startBus(t, Config{NATSAddr: "127.0.0.1:0"})
	subject := ChannelSubject("quiet")
	cfg := streamOf(t, b, subject)
	ctx := context.Background()
	if err := b.js.DeleteStream(ctx, cfg.Name); err != nil {
		t.Fatal(err)
	}
	s := &Sender{}
	first := make(chan error, 1)
	publishLost(t, b, s, &nats.Msg{Subject: b.StoreSubject(subject), Data: []byte("0")}, func(err error) { first <- err })
	const n = 10
	for i := 1; i < n; i++ {
		if err := b.PublishBy(s, &Msg{Subject: subject, Data: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-first:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the lost publish was not stored after the stream came back")
	}
	eventually.True(t, 10*time.Second, "the sender has nothing unfinished", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.first() == nil
	})
	if err := b.PublishBy(s, &Msg{Subject: subject, Data: []byte(strconv.Itoa(n))}); err != nil {
		t.Fatal(err)
	}
	b.replies.mu.Lock()
	pending := len(b.replies.pending)
	b.replies.mu.Unlock()
	if pending != 0 {
		t.Fatalf("%d publishes tracked after an untracked one", pending)
	}
	st, err := b.js.Stream(ctx, cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 10*time.Second, "every publish stored once", func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == n+1
	})
	for seq := uint64(1); seq <= n+1; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Data) != strconv.Itoa(int(seq-1)) {
			t.Fatalf("seq %d holds %q: stored out of the sender's order", seq, m.Data)
		}
	}
}
