package bus

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// seenLive is what a live subscriber saw of one stored event.
type seenLive struct {
	seq    uint64
	data   string
	stream string
	from   string
	msgID  bool // the stored copy's Nats-Msg-Id leaked into the live one
	stored bool // the stream held it when it was delivered
}

// TestNodePublishesStoredEventsLive: a single node with no NATS listener is
// its streams' only writer, so its streams have no RePublish and the node
// publishes every stored event live itself: each exactly once, only once
// stored, in the stream's order although 20 senders publish at once through
// all four ways (PublishStoredBy, PublishStoredAs, Publish, PublishBy), with its
// sequence, its stream, its own headers and no message id; a duplicate is
// not published again.
func TestNodePublishesStoredEventsLive(t *testing.T) {
	b := startBus(t, Config{})
	ctx := context.Background()
	l := b.Log(KindNamespace, "order")
	info, err := l.Stream.JS.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.RePublish != nil {
		t.Fatalf("stream %s republishes (%+v): the node is its only writer", l.Stream.Name, info.Config.RePublish)
	}

	const senders, each = 20, 50
	got := make(chan seenLive, 2*senders*each)
	sub, err := b.Subscribe(Live("sockbus.io.order.>"), func(m *Msg) {
		c := seenLive{data: string(m.Data), stream: m.Header.Get(HeaderStream), from: m.Header.Get(HeaderFrom),
			msgID: m.Header.Get(headerMsgID) != ""}
		c.seq, _ = strconv.ParseUint(m.Header.Get(HeaderSequence), 10, 64)
		if c.seq != 0 {
			sm, err := l.Stream.JS.GetMsg(ctx, c.seq)
			c.stored = err == nil && string(sm.Data) == c.data
		}
		got <- c
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var order Sender
			from := "s" + strconv.Itoa(i)
			for j := range each {
				m := &Msg{Subject: "sockbus.io.order.all.ev", Header: Header{HeaderFrom: {from}}, Data: []byte(from + "-" + strconv.Itoa(j))}
				var err error
				switch i % 4 {
				case 0:
					err = b.PublishStoredBy(&order, m, func(err error) {
						if err != nil {
							errs <- err
						}
					})
				case 1:
					err = b.PublishStoredAs(m, "", func(_ Stored, err error) {
						if err != nil {
							errs <- err
						}
					})
				case 2:
					err = b.Publish(m)
				default:
					err = b.PublishBy(&order, m)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := b.WaitStored(wctx); err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	seen := map[string]bool{}
	var last uint64
	for n := 0; n < senders*each; n++ {
		c := receive(t, got, "%d of %d events delivered live", n, senders*each)
		switch {
		case c.seq <= last:
			t.Fatalf("event %q live at sequence %d after %d: out of the stream's order", c.data, c.seq, last)
		case !c.stored:
			t.Fatalf("event %q live at sequence %d, which the stream did not hold then", c.data, c.seq)
		case c.stream != l.Stream.Name || c.from == "" || c.msgID:
			t.Fatalf("event %q live with stream %q, from %q, message id %v", c.data, c.stream, c.from, c.msgID)
		case seen[c.data]:
			t.Fatalf("event %q live twice", c.data)
		}
		last, seen[c.data] = c.seq, true
	}

	// A duplicate (the caller's id again) is stored once and seen once.
	stored := make(chan Stored, 2)
	for range 2 {
		if err := b.PublishStoredAs(&Msg{Subject: "sockbus.io.order.all.ev", Data: []byte("once")}, "key-1", func(s Stored, err error) {
			if err != nil {
				t.Error(err)
			}
			stored <- s
		}); err != nil {
			t.Fatal(err)
		}
		receive(t, stored, "the duplicate's acknowledgement")
	}
	if err := b.Publish(&Msg{Subject: "sockbus.io.order.all.ev", Data: []byte("marker")}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"once", "marker"} {
		if c := receive(t, got, "%q not delivered live", want); c.data != want {
			t.Fatalf("live %q, want %q (a duplicate published live again?)", c.data, want)
		}
	}
}

// TestRePublishFollowsTheMode: a node restarted with a NATS listener, where
// backends may write to the streams, gets its streams' RePublish back (a
// backend's publish is delivered live); restarted without one, the streams
// lose it again and each stored event is delivered live once, by the node,
// not twice.
func TestRePublishFollowsTheMode(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	subject := "sockbus.io.mode.all.ev"
	for round, withListener := range []bool{false, true, false} {
		cfg := Config{DataDir: dir}
		if withListener {
			cfg.NATSAddr = "127.0.0.1:0"
		}
		b, err := Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		l := b.Log(KindNamespace, "mode")
		info, err := l.Stream.JS.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if (info.Config.RePublish != nil) != withListener {
			t.Fatalf("round %d, listener %v: RePublish %+v", round, withListener, info.Config.RePublish)
		}
		got := make(chan *Msg, 8)
		sub, err := b.Subscribe(Live("sockbus.io.mode.>"), func(m *Msg) { got <- m })
		if err != nil {
			t.Fatal(err)
		}
		data := "r" + strconv.Itoa(round)
		if withListener {
			// As a backend: a plain NATS publish on the public subject.
			if _, err := b.nc.Request(subject, []byte(data), 5*time.Second); err != nil {
				t.Fatal(err)
			}
		} else if err := b.Publish(&Msg{Subject: subject, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(&Msg{Subject: subject, Data: []byte("marker")}); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{data, "marker"} {
			m := receive(t, got, "round %d: %q not delivered live", round, want)
			if string(m.Data) != want || m.Header.Get(HeaderSequence) == "" {
				t.Fatalf("round %d: live %q seq %q, want %q once", round, m.Data, m.Header.Get(HeaderSequence), want)
			}
		}
		_ = sub.Unsubscribe()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = b.Close(cctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestParseStored: the stream's own acknowledgements are read without JSON;
// anything else is left to the JSON decoder.
func TestParseStored(t *testing.T) {
	names := map[string]string{"S_1": "S_1"}
	for _, c := range []struct {
		in   string
		want Stored
		ok   bool
	}{
		{`{"stream":"S_1","seq":42}`, Stored{Stream: "S_1", Seq: 42}, true},
		{`{"stream":"S_2","seq":18446744073709551}`, Stored{Stream: "S_2", Seq: 18446744073709551}, true},
		{`{"stream":"S_1","seq":7,"duplicate": true}`, Stored{Stream: "S_1", Seq: 7, Duplicate: true}, true},
		{`{"stream":"S_1","domain":"d","seq":7}`, Stored{}, false},
		{`{"stream":"S_1","seq":0}`, Stored{}, false},
		{`{"stream":"S_1","seq":}`, Stored{}, false},
		{`{"stream":"S_1","seq":12345678901234567890}`, Stored{}, false},
		{`{"stream":"S_1","seq":3,"batch":"b","count":1}`, Stored{}, false},
		{`{"error":{"code":503,"err_code":10008,"description":"x"},"stream":"S_1"}`, Stored{}, false},
		{`{"stream":"a\"b","seq":3}`, Stored{}, false},
	} {
		got, ok := parseStored([]byte(c.in), names)
		if ok != c.ok || got != c.want {
			t.Errorf("parseStored(%s) = %+v, %v; want %+v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// TestLocalLiveSubscriptions: on a node that publishes live itself, a
// Subscribe on a live subject gets stored events directly and everything
// else on its subject (a volatile publish) from NATS, each once; a listener
// the node does not serve directly (SubscribeSync) gets the stored events
// through the server; after Unsubscribe nothing more comes.
func TestLocalLiveSubscriptions(t *testing.T) {
	b := startBus(t, Config{})
	subject := "sockbus.io.loc.all.ev"
	got := make(chan string, 16)
	sub, err := b.Subscribe(Live("sockbus.io.loc.>"), func(m *Msg) { got <- string(m.Data) + "/" + m.Header.Get(HeaderSequence) })
	if err != nil {
		t.Fatal(err)
	}
	wild := make(chan string, 16)
	wsub, err := b.Subscribe(Live(">"), func(m *Msg) { wild <- string(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	defer wsub.Unsubscribe()
	expect := func(ch chan string, want string) {
		t.Helper()
		if s := receive(t, ch, "%q not delivered", want); s != want {
			t.Fatalf("got %q, want %q", s, want)
		}
	}
	publish := func(data string) {
		t.Helper()
		storeWait(t, b, &Msg{Subject: subject, Data: []byte(data)}, data)
	}

	publish("a")
	expect(got, "a/1")
	expect(wild, "a")
	if err := b.PublishLive(&Msg{Subject: Live(subject), Data: []byte("volatile")}); err != nil {
		t.Fatal(err)
	}
	expect(got, "volatile/")
	expect(wild, "volatile")

	other, err := b.SubscribeSync(Live(subject))
	if err != nil {
		t.Fatal(err)
	}
	publish("b")
	expect(got, "b/2")
	expect(wild, "b")
	m, err := other.NextTimeout(10 * time.Second)
	if err != nil || string(m.Data) != "b" || m.Header.Get(HeaderSequence) != "2" {
		t.Fatalf("SubscribeSync got %v, %v", m, err)
	}
	_ = other.Unsubscribe()

	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	publish("c")
	expect(wild, "c")
	select {
	case s := <-got:
		t.Fatalf("%q delivered after Unsubscribe (or twice before)", s)
	default:
	}
}

func TestSubjectMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, subject string
		want             bool
	}{
		{"sockbus.live.io.ns.>", "sockbus.live.io.ns.all.ev", true},
		{"sockbus.live.io.ns.>", "sockbus.live.io.ns", false},
		{"sockbus.live.io.ns.>", "sockbus.live.io.ns2.all.ev", false},
		{"sockbus.live.ws.ch", "sockbus.live.ws.ch", true},
		{"sockbus.live.ws.ch", "sockbus.live.ws.ch.x", false},
		{"sockbus.live.*.ch", "sockbus.live.ws.ch", true},
		{"sockbus.live.>", "sockbus.live.ws.ch", true},
		{"sockbus.live.ws", "sockbus.live.ws.ch", false},
	} {
		if got := subjectMatches(c.pattern, c.subject); got != c.want {
			t.Errorf("subjectMatches(%q, %q) = %v", c.pattern, c.subject, got)
		}
	}
	for _, c := range []struct {
		subject, key string
		ok           bool
	}{
		{"sockbus.live.io.ns.all.ev", "sockbus.live.io.ns", true},
		{"sockbus.live.io.ns.>", "sockbus.live.io.ns", true},
		{"sockbus.live.ws.ch", "sockbus.live.ws.ch", true},
		{"sockbus.live.>", "", false},
		{"sockbus.live.*.ch", "", false},
	} {
		if key, ok := nameKey(c.subject); key != c.key || ok != c.ok {
			t.Errorf("nameKey(%q) = %q, %v", c.subject, key, ok)
		}
	}
}

// TestLiveHandlerMayWaitOnTheBus: a live handler runs off the reply
// goroutine, so it may wait for a reply (a request) while stored events
// keep being acknowledged, and may unsubscribe itself.
func TestLiveHandlerMayWaitOnTheBus(t *testing.T) {
	b := startBus(t, Config{})
	echo, err := b.Subscribe("svc.echo", func(m *Msg) { _ = b.PublishLive(&Msg{Subject: m.Reply, Data: m.Data}) })
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Unsubscribe()
	answers := make(chan string, 4)
	var sub *Subscription
	var subMu sync.Mutex
	subMu.Lock()
	sub, err = b.Subscribe(Live("sockbus.io.wait.>"), func(m *Msg) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := b.Request(ctx, &Msg{Subject: "svc.echo", Data: m.Data})
		if err != nil {
			answers <- err.Error()
			return
		}
		answers <- string(r.Data)
		subMu.Lock()
		_ = sub.Unsubscribe() // from inside its own handler
		subMu.Unlock()
	})
	subMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	marker := make(chan string, 1)
	msub, err := b.Subscribe(Live("sockbus.io.marker.>"), func(m *Msg) { marker <- string(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	defer msub.Unsubscribe()
	for _, subject := range []string{"sockbus.io.wait.all.one", "sockbus.io.wait.all.two", "sockbus.io.marker.all.three"} {
		data := subject[strings.LastIndexByte(subject, '.')+1:]
		storeWait(t, b, &Msg{Subject: subject, Data: []byte(data)}, data+" (while the live handler waits)")
	}
	if a := receive(t, answers, "handler's request never answered"); a != "one" {
		t.Fatalf("handler got %q, want the echo of one", a)
	}
	// The live queue is in order: once three is delivered, two was handled.
	receive(t, marker, "marker not delivered")
	select {
	case a := <-answers:
		t.Fatalf("handler ran again after unsubscribing: %q", a)
	default:
	}
}

// TestLiveQueueDropsPastItsBound: while a live handler is stuck, stored
// events wait for it up to the live queue's bound; past it they are not
// delivered live (counted by LiveDropped) but still stored and
// acknowledged; the waiting ones are delivered in order once the handler
// returns, and later ones again.
func TestLiveQueueDropsPastItsBound(t *testing.T) {
	b := startBus(t, Config{})
	b.liveq.max = 4
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	unstick := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unstick) // before the bus closes (cleanups run last first)
	got := make(chan string, 32)
	sub, err := b.Subscribe(Live("sockbus.io.slow.>"), func(m *Msg) {
		if string(m.Data) == "0" {
			close(entered)
			<-release
		}
		got <- string(m.Data)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	publish := func(i int) {
		t.Helper()
		storeWait(t, b, &Msg{Subject: "sockbus.io.slow.all.ev", Data: []byte(strconv.Itoa(i))},
			fmt.Sprintf("event %d (while the live handler is stuck)", i))
	}
	publish(0)
	receive(t, entered, "event 0 not delivered live")
	for i := 1; i <= 10; i++ {
		publish(i)
	}
	if n := b.LiveDropped(); n != 6 {
		t.Fatalf("LiveDropped = %d, want 6 (events 5-10, past 4 waiting)", n)
	}
	unstick()
	publish(11)
	for _, want := range []string{"0", "1", "2", "3", "4", "11"} {
		if s := receive(t, got, "%q not delivered live", want); s != want {
			t.Fatalf("live %q, want %q", s, want)
		}
	}
	l := b.Log(KindNamespace, "slow")
	info, err := l.Stream.JS.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 12 {
		t.Fatalf("stream holds %d, want all 12 stored", info.State.Msgs)
	}
}
