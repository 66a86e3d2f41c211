package replay

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startBus(t testing.TB, h bus.HistoryConfig) *bus.Bus {
	return testutil.StartBus(t, bus.Config{History: h})
}

// fill stores n messages "0".."n-1" on a channel stream and waits for the acks.
func fill(t testing.TB, b *bus.Bus, tok string, n int) bus.Log {
	t.Helper()
	return store(t, b, bus.KindChannel, tok, n, func(int) string { return bus.ChannelSubject(tok) })
}

// store stores n messages "0".."n-1" on subject(i) in the stream of kind and
// tok, and waits for the acks.
func store(t testing.TB, b *bus.Bus, kind bus.Kind, tok string, n int, subject func(i int) string) bus.Log {
	t.Helper()
	for i := 0; i < n; i++ {
		m := &bus.Msg{Subject: subject(i), Header: bus.Header{}}
		m.Data = []byte(strconv.Itoa(i))
		if err := b.Publish(m); err != nil {
			t.Fatal(err)
		}
	}
	waitStored(t, b)
	return b.Log(kind, tok)
}

// waitStored waits until every stored publish so far is acknowledged.
func waitStored(t testing.TB, b *bus.Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.WaitStored(ctx); err != nil {
		t.Fatal(err)
	}
}

func collect(t *testing.T, f func(func(bus.StoredMsg) error) (uint64, error)) ([]string, uint64, error) {
	t.Helper()
	var got []string
	last, err := f(func(m bus.StoredMsg) error {
		got = append(got, string(m.Data))
		return nil
	})
	return got, last, err
}

func TestSinceAndLast(t *testing.T) {
	b := startBus(t, bus.HistoryConfig{})
	s := fill(t, b, "c", 10)
	r := NewReader(b)
	ctx := context.Background()
	got, last, err := collect(t, func(fn func(bus.StoredMsg) error) (uint64, error) { return r.Since(ctx, s, 7, fn) })
	if err != nil || last != 10 || len(got) != 3 || got[0] != "7" || got[2] != "9" {
		t.Fatalf("Since(7) = %v, last %d, %v", got, last, err)
	}
	got, _, err = collect(t, func(fn func(bus.StoredMsg) error) (uint64, error) { return r.Since(ctx, s, 10, fn) })
	if err != nil || len(got) != 0 {
		t.Fatalf("Since(last) = %v, %v; want nothing", got, err)
	}
	got, _, err = collect(t, func(fn func(bus.StoredMsg) error) (uint64, error) { return r.Last(ctx, s, 4, nil, fn) })
	if err != nil || len(got) != 4 || got[0] != "6" || got[3] != "9" {
		t.Fatalf("Last(4) = %v, %v", got, err)
	}
	got, _, err = collect(t, func(fn func(bus.StoredMsg) error) (uint64, error) { return r.Last(ctx, s, 50, nil, fn) })
	if err != nil || len(got) != 10 {
		t.Fatalf("Last(50) = %d messages, %v; want all 10", len(got), err)
	}
	if _, err := r.Since(ctx, s, 11, func(bus.StoredMsg) error { return nil }); !errors.Is(err, bus.ErrHistoryGone) {
		t.Fatalf("a position past the end: %v, want ErrHistoryGone", err)
	}
}

// fillNamespace stores n events "0".."n-1" on a namespace stream: those
// whose index is a multiple of every broadcast to the namespace, the others
// to a room.
func fillNamespace(t *testing.T, b *bus.Bus, tok string, n, every int) bus.Log {
	t.Helper()
	return store(t, b, bus.KindNamespace, tok, n, func(i int) string {
		if i%every == 0 {
			return "sockbus.io." + tok + ".all.e"
		}
		return "sockbus.io." + tok + ".room.r.e"
	})
}

func broadcasts(m bus.StoredMsg) bool { return strings.Contains(m.Subject, ".all.") }

// indexes lists "from", "from+step", ... up to "to" (inclusive).
func indexes(from, to, step int) string {
	var out []string
	for i := from; i <= to; i += step {
		out = append(out, strconv.Itoa(i))
	}
	return strings.Join(out, " ")
}

// Late joiners: Last counts only the messages keep accepts, looking further
// back than the last n when the newest ones are mostly not kept.
func TestLastCountsOnlyKeptMessages(t *testing.T) {
	b := startBus(t, bus.HistoryConfig{})
	s := fillNamespace(t, b, "ns", 60, 5) // kept: 0, 5, ..., 55 (sequences 1, 6, ..., 56)
	r := NewReader(b)
	ctx := context.Background()
	for _, tc := range []struct {
		n    int
		want string
	}{
		{8, indexes(20, 55, 5)},  // the last 8 messages hold one kept; three windows back
		{1, "55"},                // in the first window
		{12, indexes(0, 55, 5)},  // exactly all kept ones, down to the first message
		{20, indexes(0, 55, 5)},  // fewer kept than asked
		{100, indexes(0, 55, 5)}, // more than the stream holds
	} {
		var seqs []uint64
		got, last, err := collect(t, func(fn func(bus.StoredMsg) error) (uint64, error) {
			return r.Last(ctx, s, tc.n, broadcasts, func(m bus.StoredMsg) error {
				seqs = append(seqs, m.Seq)
				return fn(m)
			})
		})
		if err != nil || strings.Join(got, " ") != tc.want || last != 60 {
			t.Errorf("Last(%d) = %v, last %d, %v; want %s, last 60", tc.n, got, last, err, tc.want)
		}
		for i, seq := range seqs {
			if want, _ := strconv.Atoi(got[i]); seq != uint64(want)+1 {
				t.Errorf("Last(%d): %q at sequence %d", tc.n, got[i], seq)
			}
		}
	}
	got, last, err := collect(t, func(fn func(bus.StoredMsg) error) (uint64, error) { return r.Last(ctx, s, 100, nil, fn) })
	if err != nil || strings.Join(got, " ") != indexes(0, 59, 1) || last != 60 {
		t.Fatalf("Last(100) with nil keep = %v, last %d, %v; want all 60", got, last, err)
	}
}

// Last reads about 2n of a busy log's messages, not a fixed window: the
// messages it reads are those keep sees. A quiet log whose last messages lie
// far back in a shared stream is found through growing windows, reading
// only its own messages.
func TestLastReadsAboutTwiceN(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{Layout: bus.LayoutConfig{SharedStreams: 1}})
	quiet := fill(t, b, "quiet", 30)
	busy := fill(t, b, "busy", 3000) // under the 4,096 publishes in flight
	r := NewReader(b)
	ctx := context.Background()
	for _, tc := range []struct {
		log      bus.Log
		n        int
		want     string
		maxReads int
	}{
		{busy, 20, indexes(2980, 2999, 1), 64},
		{busy, 100, indexes(2900, 2999, 1), 200},
		{quiet, 20, indexes(10, 29, 1), 30},
	} {
		reads := 0
		got, _, err := collect(t, func(fn func(bus.StoredMsg) error) (uint64, error) {
			return r.Last(ctx, tc.log, tc.n, func(bus.StoredMsg) bool { reads++; return true }, fn)
		})
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("Last(%s, %d) = %v, %v; want %s", tc.log.Filter, tc.n, got, err, tc.want)
		}
		if reads > tc.maxReads {
			t.Errorf("Last(%s, %d) read %d messages, want at most %d", tc.log.Filter, tc.n, reads, tc.maxReads)
		}
	}
}

// A stream trimmed by retention: Last stops at its first stored message.
func TestLastStopsAtTrimmedStart(t *testing.T) {
	b := startBus(t, bus.HistoryConfig{MaxMsgs: 40})
	s := fillNamespace(t, b, "trimmed", 60, 5) // keeps "20".."59", sequences 21..60
	got, last, err := collect(t, func(fn func(bus.StoredMsg) error) (uint64, error) {
		return NewReader(b).Last(context.Background(), s, 30, broadcasts, fn)
	})
	if err != nil || strings.Join(got, " ") != indexes(20, 55, 5) || last != 60 {
		t.Fatalf("Last(30) = %v, last %d, %v; want %s, last 60", got, last, err, indexes(20, 55, 5))
	}
}

// Deleted messages leave gaps in a window: the read stops at the window's
// end, not at the next message stored after it.
func TestLastReadsPastDeletedMessages(t *testing.T) {
	b := startBus(t, bus.HistoryConfig{})
	s := fillNamespace(t, b, "gaps", 60, 5)
	for _, seq := range []uint64{31, 36} { // "30" and "35", the end of the window [5, 36]
		if err := s.Stream.JS.DeleteMsg(context.Background(), seq); err != nil {
			t.Fatal(err)
		}
	}
	got, last, err := collect(t, func(fn func(bus.StoredMsg) error) (uint64, error) {
		return NewReader(b).Last(context.Background(), s, 8, broadcasts, fn)
	})
	want := "10 15 20 25 40 45 50 55"
	if err != nil || strings.Join(got, " ") != want || last != 60 {
		t.Fatalf("Last(8) = %v, last %d, %v; want %s, last 60", got, last, err, want)
	}
}

func TestTrimmedHistoryIsGoneNotPartial(t *testing.T) {
	b := startBus(t, bus.HistoryConfig{MaxMsgs: 5})
	s := fill(t, b, "trim", 12) // keeps 8..12 (sequences), "7".."11"
	r := NewReader(b)
	calls := 0
	_, err := r.Since(context.Background(), s, 3, func(bus.StoredMsg) error { calls++; return nil })
	if !errors.Is(err, bus.ErrHistoryGone) || calls != 0 {
		t.Fatalf("trimmed position: err %v after %d messages; want ErrHistoryGone and none", err, calls)
	}
	got, _, err := collect(t, func(fn func(bus.StoredMsg) error) (uint64, error) { return r.Since(context.Background(), s, 7, fn) })
	if err != nil || len(got) != 5 || got[0] != "7" {
		t.Fatalf("Since(first-1) = %v, %v", got, err)
	}
}

func TestChannelHistoryKeepsBinaryFlag(t *testing.T) {
	b := startBus(t, bus.HistoryConfig{})
	s := b.Log(bus.KindChannel, "bin")
	m := &bus.Msg{Subject: bus.ChannelSubject("bin"), Header: bus.Header{}}
	m.Data = []byte{0, 1, 2}
	m.Header.Set(bus.HeaderBinary, "1")
	if err := b.Publish(m); err != nil {
		t.Fatal(err)
	}
	waitStored(t, b)
	var binary bool
	if _, err := NewReader(b).ChannelHistory(context.Background(), s, 1, func(bin bool, _ []byte) error { binary = bin; return nil }); err != nil || !binary {
		t.Fatalf("binary = %v, %v", binary, err)
	}
}

func TestSessionsExpireAfterWindow(t *testing.T) {
	b := startBus(t, bus.HistoryConfig{})
	ctx := context.Background()
	st, err := OpenSessions(ctx, b, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, "pid-1", []byte(`{"sid":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if v, err := st.Load(ctx, "pid-1"); err != nil || string(v) != `{"sid":"x"}` {
		t.Fatalf("Load = %q, %v", v, err)
	}
	if v, err := st.Load(ctx, "unknown"); err != nil || v != nil {
		t.Fatalf("unknown pid = %q, %v", v, err)
	}
	eventually.True(t, 10*time.Second, "the session to expire", func() bool {
		v, err := st.Load(ctx, "pid-1")
		if err != nil {
			t.Fatal(err)
		}
		return v == nil
	})
	if err := st.Save(ctx, "pid-2", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "pid-2"); err != nil {
		t.Fatal(err)
	}
	if v, _ := st.Load(ctx, "pid-2"); v != nil {
		t.Fatal("deleted session still loads")
	}
}

// BenchmarkSince10k measures replaying 10,000 missed events from JetStream
// (the read side of a recovery; the end-to-end figure is in bench/).
func BenchmarkSince10k(b *testing.B) {
	bb := startBus(b, bus.HistoryConfig{})
	s := fill(b, bb, "bench", 10000)
	r := NewReader(bb)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if _, err := r.Since(context.Background(), s, 0, func(bus.StoredMsg) error { n++; return nil }); err != nil || n != 10000 {
			b.Fatalf("replayed %d, %v", n, err)
		}
	}
}

// Since reads many messages through a consumer filtered by the log's
// subjects: exactly the log's messages after the position, in order, with
// public subjects and their headers, across other names' messages and gaps.
// The same read by direct gets alone (no consumer to be had) gives the same.
func TestSinceManyThroughConsumer(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{Layout: bus.LayoutConfig{SharedStreams: 1}})
	ctx := context.Background()
	const n = 3 * consumeMin
	for i := range n {
		for _, tok := range []string{"mine", "other"} {
			m := &bus.Msg{Subject: "sockbus.io." + tok + ".all.e", Header: bus.Header{}}
			m.Header.Set(bus.HeaderFrom, "sid"+strconv.Itoa(i))
			m.Data = []byte(strconv.Itoa(i))
			if err := b.Publish(m); err != nil {
				t.Fatal(err)
			}
		}
		if i%1000 == 999 {
			waitStored(t, b)
		}
	}
	waitStored(t, b)
	l := b.Log(bus.KindNamespace, "mine") // "i" at sequence 2i+1
	if err := l.Stream.JS.DeleteMsg(ctx, 2*700+1); err != nil {
		t.Fatal(err)
	}
	// A JetStream API nobody serves: creating the consumer fails at once.
	noConsumer, err := jetstream.NewWithAPIPrefix(b.ReadConn(), "$NOBODY.API")
	if err != nil {
		t.Fatal(err)
	}
	// Count the consumers created: every create request is a message on
	// $JS.API.CONSUMER.CREATE.<stream>.…
	var creates atomic.Int64
	sub, err := b.ReadConn().Subscribe("$JS.API.CONSUMER.CREATE.>", func(*nats.Msg) { creates.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := b.ReadConn().Flush(); err != nil {
		t.Fatal(err)
	}
	for i, r := range []*Reader{newReader(b.ReadConn(), noConsumer), NewReader(b)} {
		name := []string{"direct", "consumer"}[i]
		var got []string
		var seqs []uint64
		last, err := r.Since(ctx, l, 2*99+1, func(m bus.StoredMsg) error { // after "99"
			if m.Subject != "sockbus.io.mine.all.e" || m.Header.Get(bus.HeaderFrom) != "sid"+string(m.Data) {
				t.Errorf("%s: message %q on %q from %q", name, m.Data, m.Subject, m.Header.Get(bus.HeaderFrom))
			}
			got = append(got, string(m.Data))
			seqs = append(seqs, m.Seq)
			return nil
		})
		want := indexes(100, 699, 1) + " " + indexes(701, n-1, 1)
		if err != nil || strings.Join(got, " ") != want || last != 2*(n-1)+1 {
			t.Errorf("%s: Since = %d messages (%.40s…), last %d, %v; want %d, last %d", name, len(got), strings.Join(got, " "), last, err, n-101, 2*(n-1)+1)
		}
		for i, seq := range seqs {
			if v, _ := strconv.Atoi(got[i]); seq != uint64(2*v+1) {
				t.Fatalf("%s: %q at sequence %d", name, got[i], seq)
			}
		}
		eventually.Within(time.Second, func() bool { return creates.Load() >= int64(i) }) // delivered asynchronously
		if got := creates.Swap(0); got != int64(i) {
			t.Errorf("%s: %d consumers created, want %d", name, got, i)
		}
	}
	stop := errors.New("client gone")
	calls := 0
	if _, err := NewReader(b).Since(ctx, l, 0, func(bus.StoredMsg) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Since with a failing fn: %v after %d calls; want the fn's error after 1", err, calls)
	}
}

// TestSessionsRideOutNoLeader: a session write while the bucket cannot take
// it (here: its stream is gone for longer than one attempt, which JetStream
// answers as a bucket without a leader, no responders) is retried and lands
// once the bucket is back, within the caller's bound.
func TestSessionsRideOutNoLeader(t *testing.T) {
	ctx := context.Background()
	st, restore := sessionsBucketGone(t)
	saved := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		saved <- st.Save(sctx, "pid-1", []byte(`{"sid":"x"}`))
	}()
	outage := sessionAttempt + 200*time.Millisecond
	select {
	case err := <-saved:
		t.Fatalf("Save returned %v while the bucket was gone", err)
	case <-time.After(outage): // the outage itself: nothing to poll for
	}
	restore()
	select {
	case err := <-saved:
		if err != nil {
			t.Fatalf("Save after the bucket came back: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Save still waiting after the bucket came back")
	}
	if v, err := st.Load(ctx, "pid-1"); err != nil || string(v) != `{"sid":"x"}` {
		t.Fatalf("Load = %q, %v", v, err)
	}
}

// A declared name's stream holds it alone: its consumer reads unfiltered,
// and delivers exactly the same as a filtered read would.
func TestSinceDeclaredNameThroughConsumer(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{Layout: bus.LayoutConfig{OwnNamespaces: []string{"/solo"}}})
	l := fillNamespace(t, b, "solo", 2*consumeMin, 1)
	if !l.Own {
		t.Fatal("the declared namespace is not in a stream of its own")
	}
	var got []string
	last, err := NewReader(b).Since(context.Background(), l, 100, func(m bus.StoredMsg) error {
		if m.Subject != "sockbus.io.solo.all.e" {
			t.Errorf("message %q on %q", m.Data, m.Subject)
		}
		got = append(got, string(m.Data))
		return nil
	})
	if want := indexes(100, 2*consumeMin-1, 1); err != nil || strings.Join(got, " ") != want || last != 2*consumeMin {
		t.Fatalf("Since(100) = %d messages, last %d, %v; want %d, last %d", len(got), last, err, 2*consumeMin-100, 2*consumeMin)
	}
}
