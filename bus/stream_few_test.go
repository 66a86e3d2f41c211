package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/testutil"
)

// SubscribeFew delivers through Next like SubscribeSync, and a Next that
// finds nothing ends with its context.
func TestSubscribeFewNext(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	sub, err := b.SubscribeFew(bus.NewInbox(), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	for _, s := range []string{"a", "b"} {
		if err := b.PublishLive(&bus.Msg{Subject: sub.Subject(), Data: []byte(s)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"a", "b"} {
		m, err := sub.NextTimeout(5 * time.Second)
		if err != nil || string(m.Data) != want {
			t.Fatalf("Next: %v %v, want %q", m, err, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := sub.Next(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Next on nothing: %v, want the context's deadline", err)
	}
}
