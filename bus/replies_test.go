package bus

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/internal/eventually"
)

// respond answers every request on subject with "re:" and its body, or
// never when answer is false.
func respond(t *testing.T, b *Bus, subject string, answer bool) {
	t.Helper()
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) {
		if answer {
			_ = m.Respond(append([]byte("re:"), m.Data...))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
}

// Request gets the first answer, says at once when nobody listens, and
// gives up when its context ends, leaving nothing waiting behind.
func TestRequest(t *testing.T) {
	b := startBus(t, Config{})
	respond(t, b, "svc.echo", true)
	respond(t, b, "svc.silent", false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	rep, err := b.Request(ctx, &Msg{Subject: "svc.echo", Data: []byte("hi")})
	if err != nil || string(rep.Data) != "re:hi" {
		t.Fatalf("answer %v, %v; want re:hi", rep, err)
	}
	if _, err := b.Request(ctx, &Msg{Subject: "svc.nobody"}); !errors.Is(err, ErrNoResponders) {
		t.Fatalf("nobody listening: %v, want ErrNoResponders", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	if _, err := b.Request(short, &Msg{Subject: "svc.silent"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("no answer: %v, want DeadlineExceeded", err)
	}
	if n := b.pendingRequests(); n != 0 {
		t.Fatalf("%d requests still waiting after every Request returned", n)
	}
}

func (b *Bus) pendingRequests() int {
	b.replies.mu.Lock()
	defer b.replies.mu.Unlock()
	return len(b.replies.requests)
}

// AwaitReply hands the first answer to fn once; a request nobody answers
// is forgotten by the sweeper at its deadline (no timer of its own) and fn
// never runs for it.
func TestAwaitReplySweptAtDeadline(t *testing.T) {
	b := startBus(t, Config{})
	respond(t, b, "svc.echo", true)
	respond(t, b, "svc.silent", false)

	got := make(chan string, 2)
	reply, err := b.AwaitReply(5*time.Second, func(m *Msg) { got <- string(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PublishLive(&Msg{Subject: "svc.echo", Reply: reply, Data: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "re:a" {
			t.Fatalf("got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}

	var late atomic.Int32
	reply, err = b.AwaitReply(100*time.Millisecond, func(*Msg) { late.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PublishLive(&Msg{Subject: "svc.silent", Reply: reply}); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 5*time.Second, "the unanswered request forgotten", func() bool { return b.pendingRequests() == 0 })
	// An answer after the deadline finds nobody waiting.
	if err := b.PublishLive(&Msg{Subject: reply, Data: []byte("too late")}); err != nil {
		t.Fatal(err)
	}
	if err := b.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	respond(t, b, "svc.barrier", true) // one more round trip through the reply subscription
	if _, err := b.Request(context.Background(), &Msg{Subject: "svc.barrier"}); err != nil {
		t.Fatal(err)
	}
	if n := late.Load(); n != 0 {
		t.Fatalf("fn ran %d times for a request past its deadline", n)
	}
}

// At most maxPendingReplies requests wait at once: more are refused with
// ErrBusy until one is answered or expires.
func TestAwaitReplyCapped(t *testing.T) {
	b := startBus(t, Config{})
	b.replies.maxReqs = 3
	for i := range 3 {
		if _, err := b.AwaitReply(time.Minute, func(*Msg) {}); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if _, err := b.AwaitReply(time.Minute, func(*Msg) {}); !errors.Is(err, ErrBusy) {
		t.Fatalf("4th request: %v, want ErrBusy", err)
	}
	if _, err := b.Request(context.Background(), &Msg{Subject: "svc.any"}); !errors.Is(err, ErrBusy) {
		t.Fatalf("Request over the cap: %v, want ErrBusy", err)
	}
}
