package replay

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
)

// The ack subject of a delivery gives its stream sequence, time and the
// consumer's pending count, in the subject's old form and in the form with
// a domain and account hash (with or without its last token).
func TestAckMetadata(t *testing.T) {
	for _, reply := range []string{
		"$JS.ACK.S.C.1.42.7.1700000000000000001.9",
		"$JS.ACK._.ACCHASH.S.C.1.42.7.1700000000000000001.9",
		"$JS.ACK.dom.ACCHASH.S.C.1.42.7.1700000000000000001.9.tok",
	} {
		seq, at, pending, err := ackMetadata(reply)
		if err != nil || seq != 42 || at.UnixNano() != 1700000000000000001 || pending != 9 {
			t.Errorf("ackMetadata(%q) = %d, %v, %d, %v", reply, seq, at.UnixNano(), pending, err)
		}
	}
	for _, reply := range []string{"", "_INBOX.x", "$JS.ACK.S.C.1.42.7.1", "$JS.ACK.S.C.1.42.7.1.9.x", "$JS.ACK.S.C.1.x.7.1.9"} {
		if _, _, _, err := ackMetadata(reply); !errors.Is(err, errAckSubject) {
			t.Errorf("ackMetadata(%q) = %v, want errAckSubject", reply, err)
		}
	}
}

// A long read through the consumer keeps at most pullWindow batches asked
// for ahead of its caller: a caller that takes nothing (its client does
// not read) leaves the rest of the log unread, not buffered on the read
// connection. 3,000 messages of 4 KiB (12 MB) with batches of 64 KiB: the
// connection receives about two batches while the caller holds the first.
func TestLongReadHoldsAtMostTheWindow(t *testing.T) {
	b := startBus(t, bus.HistoryConfig{})
	const n, size = 3000, 4 << 10
	payload := strings.Repeat("x", size)
	for i := range n {
		if err := b.Publish(&bus.Msg{Subject: "sockbus.io.big.all.e", Header: bus.Header{}, Data: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
		if i%256 == 255 {
			waitStored(t, b)
		}
	}
	waitStored(t, b)
	l := b.Log(bus.KindNamespace, "big")
	r := NewReader(b)
	r.batchBytes = 64 << 10
	nc := b.ReadConn()
	before := nc.Stats().InBytes
	held := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		got := 0
		_, err := r.Since(context.Background(), l, 0, func(m bus.StoredMsg) error {
			if got == 0 {
				if m.Time.Before(start.Add(-time.Minute)) || m.Time.After(time.Now()) {
					t.Errorf("message stored at %v", m.Time)
				}
				close(held)
				<-release
			}
			got++
			return nil
		})
		if err == nil && got != n {
			err = errors.New("short read")
		}
		done <- err
	}()
	<-held
	window := uint64(2 * r.batchBytes) // pullWindow
	eventually.True(t, 5*time.Second, "the window's batches arrive", func() bool { return nc.Stats().InBytes-before >= window-2*size })
	// Nothing more arrives while the caller holds the first message.
	if eventually.Within(300*time.Millisecond, func() bool { return nc.Stats().InBytes-before > window+window/4 }) {
		t.Errorf("the read connection received %d bytes (%d messages) while the caller held one message, want about %d", nc.Stats().InBytes-before, nc.Stats().InMsgs, window)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A read's answers reach the read connection once. Its inboxes are not
// under the connection's request-mux prefix: the mux's wildcard
// subscription (made by the connection's first request, such as a
// consumer's creation) received every answer a second time, and nats.go
// parsed each twice. A read through the consumer makes no direct get but
// the two that find the log's ends (it falls back to direct gets only when
// the consumer fails).
func TestReadAnswersArriveOnce(t *testing.T) {
	b := startBus(t, bus.HistoryConfig{})
	const n = 3*maxBatch + 5
	l := fill(t, b, "c", n)
	nc := b.ReadConn()
	if _, err := nc.Request("$JS.API.INFO", nil, 5*time.Second); err != nil { // the mux exists from now on
		t.Fatal(err)
	}
	var directs atomic.Int64
	sub, err := nc.Subscribe("$JS.API.DIRECT.GET.>", func(*nats.Msg) { directs.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"direct", "consumer"} {
		r := NewReader(b)
		if name == "direct" {
			r = newReader(nc, nil)
		}
		directs.Store(0)
		before := nc.Stats().InMsgs
		got := 0
		if _, err := r.Since(context.Background(), l, 0, func(bus.StoredMsg) error { got++; return nil }); err != nil || got != n {
			t.Fatalf("%s: Since = %d messages, %v", name, got, err)
		}
		// Besides the answers: the direct gets' own requests, seen by sub.
		if in, asked := nc.Stats().InMsgs-before, uint64(directs.Load()); in > n+asked+16 {
			t.Errorf("%s: the read connection received %d messages for a read of %d", name, in, n)
		}
		if name == "consumer" && directs.Load() > 2 {
			t.Errorf("consumer: %d direct gets", directs.Load())
		}
	}
}
