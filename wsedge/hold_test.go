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

// TakePart takes parts off a hold larger than a part, oldest first, leaving
// out what the replay covered, goes on holding (later offers queue behind)
// and leaves the last part to Release.
func TestLiveHoldTakePart(t *testing.T) {
	var h LiveHold[int]
	if _, ok := h.TakePart(0, 1, 1); ok {
		t.Fatal("a part taken from a hold never started")
	}
	h.Start(outq.Config{MaxFrames: 100, MaxBytes: 1000})
	for i := range 5 { // message i has sequence 10+i; the replay covered up to 11
		h.Offer(uint64(10+i), i, 1, 10)
	}
	part, ok := h.TakePart(11, 2, 1000)
	if !ok || len(part) != 0 { // 0 and 1: covered by the replay
		t.Fatalf("first part %v %v, want none to send, ok", part, ok)
	}
	h.Offer(20, 5, 1, 10) // offered meanwhile: behind the rest
	part, ok = h.TakePart(11, 2, 1000)
	if !ok || len(part) != 2 || part[0] != 2 || part[1] != 3 {
		t.Fatalf("second part %v %v, want [2 3]", part, ok)
	}
	if part, ok := h.TakePart(11, 2, 1000); ok { // 2 left: a part, for Release
		t.Fatalf("took %v from a hold of one part", part)
	}
	if part, ok := h.TakePart(11, 5, 15); !ok || len(part) != 1 || part[0] != 4 { // on bytes: 20 > 15
		t.Fatalf("part on the byte bound %v %v, want [4]", part, ok)
	}
	var sent []int
	h.Release(11, func(v int) { sent = append(sent, v) })
	if len(sent) != 1 || sent[0] != 5 {
		t.Fatalf("released %v, want [5]", sent)
	}
}
