package presence

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/testutil"
)

// cpuNow is this process's CPU time, user and system (the embedded NATS
// server included).
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPresenceJoinLeave: node a joins and leaves b.N sockets in a
// namespace (events on), node b follows; it reports the process's CPU per
// join and leave, until b's copy of a has taken in every change.
func BenchmarkPresenceJoinLeave(b *testing.B) {
	bs := testutil.StartBus(b, bus.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ra, err := Open(ctx, bs, Config{Node: "a", Events: true})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = ra.Close(context.Background()) }()
	rb, err := Open(ctx, bs, Config{Node: "b", Events: true})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = rb.Close(context.Background()) }()
	w := Where{Kind: KindIO, Scope: "/", Whole: true}
	var left atomic.Int64
	sub, err := bs.Subscribe(bus.PresenceEvents, func(m *bus.Msg) {
		if strings.HasSuffix(m.Subject, ".left") {
			left.Add(1)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	b.ResetTimer()
	start := cpuNow()
	for i := range b.N {
		id := fmt.Sprintf("s%d", i)
		ra.Join(w, id, "")
		ra.Leave(w, id, "", false)
	}
	eventually.True(b, time.Minute, "b caught up with a's joins and leaves", func() bool {
		ra.mu.Lock()
		seq, pending := ra.seq, len(ra.pending)
		ra.mu.Unlock()
		rb.mu.Lock()
		p := rb.peers["a"]
		caught := p != nil && p.seq == seq && p.count == 0
		rb.mu.Unlock()
		return left.Load() == int64(b.N) && pending == 0 && caught
	})
	b.ReportMetric(float64((cpuNow()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}
