package wsedge

import (
	"testing"

	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// The hold keeps what the queue would take, then drops everything and
// says so once; release sends the right messages in order, or nothing
// after an overflow.
func TestLiveHoldBound(t *testing.T) {
	var h LiveHold[int]
	if held, _ := h.Offer(1, 1, 1, 10); held {
		t.Fatal("a hold never started held a message")
	}
	h.Start(outq.Config{MaxFrames: 3, MaxBytes: 100})
	for i, seq := range []uint64{5, 0, 7} { // 5 is covered by the replay; 0 was not stored
		if held, over := h.Offer(seq, i, 1, 30); !held || over {
			t.Fatalf("offer %d: held %v overflow %v", i, held, over)
		}
	}
	var sent []int
	h.Release(5, func(v int) { sent = append(sent, v) })
	if len(sent) != 2 || sent[0] != 1 || sent[1] != 2 {
		t.Fatalf("released %v, want [1 2]", sent)
	}

	for _, bound := range []struct{ frames, bytes int }{{4, 30}, {1, 101}} { // one frame too many, or bytes over
		h.Start(outq.Config{MaxFrames: 3, MaxBytes: 100})
		for i := 0; i < bound.frames-1; i++ {
			h.Offer(uint64(10+i), i, 1, 1)
		}
		if held, over := h.Offer(20, 99, 1, bound.bytes-(bound.frames-1)); !held || !over {
			t.Fatalf("%+v: past the bound held %v overflow %v, want both", bound, held, over)
		}
		if held, over := h.Offer(21, 100, 1, 1); !held || over {
			t.Fatalf("%+v: after the overflow held %v overflow %v, want held (dropped), told once", bound, held, over)
		}
		sent = nil
		h.Release(0, func(v int) { sent = append(sent, v) })
		if len(sent) != 0 {
			t.Fatalf("%+v: an overflowed hold released %v", bound, sent)
		}
		if held, _ := h.Offer(22, 1, 1, 1); held {
			t.Fatal("held after release")
		}
	}
}
