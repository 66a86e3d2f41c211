package wsedge

import (
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
)

// An address without connections is forgotten once its bucket has
// refilled: the budget's state is bounded by connections and recent
// addresses.
const wait = 5 * time.Second

func TestAddressBudgetForgetsRefilledAddresses(t *testing.T) {
	b := NewAddressBudget(1000, 10) // refills in 10 ms
	s := b.Acquire("192.0.2.1:1234")
	for range 10 {
		if !s.Allow() {
			t.Fatal("refused within the burst")
		}
	}
	if s.Allow() {
		t.Fatal("allowed past the burst")
	}
	b.Release(s)
	fresh := b.Acquire("192.0.2.2:1")
	b.Release(fresh) // full: forgotten at once
	if got := b.Addresses(); got != 1 {
		t.Fatalf("addresses %d right after release, want 1 (the spent one)", got)
	}
	eventually.True(t, wait, "the refilled address forgotten", func() bool { return b.Addresses() == 0 })
}
