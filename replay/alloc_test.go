package replay

import (
	"context"
	"runtime"
	"testing"

	"github.com/sockbus/sockbus/bus"
)

// A short recovery read (a few missed events, direct gets) allocates a
// few KiB, not nats.go's SubscribeSync channel of 65,536 slots (512 KiB,
// allocated and cleared) per request: a reconnect storm makes thousands at
// once. The bound leaves room for the embedded server's own allocations,
// which run in this process too.
func TestShortReadsAllocateLittle(t *testing.T) {
	b := startBus(t, bus.HistoryConfig{})
	s := fill(t, b, "c", 10)
	r := NewReader(b)
	ctx := context.Background()
	read := func() {
		n := 0
		if _, err := r.Since(ctx, s, 7, func(bus.StoredMsg) error { n++; return nil }); err != nil || n != 3 {
			t.Fatalf("Since(7): %d messages, %v", n, err)
		}
	}
	read() // warm
	const reads = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range reads {
		read()
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / reads
	t.Logf("%d B allocated per short read", per)
	if per > 128<<10 {
		t.Fatalf("a short read allocates %d B, want ≤ 128 KiB", per)
	}
}
