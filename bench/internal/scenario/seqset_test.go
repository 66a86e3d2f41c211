package scenario

import (
	"testing"
	"time"
)

func TestSeqSetCountsLossAndDuplicatesExactly(t *testing.T) {
	acked := newSeqSet(200)
	got := newSeqSet(200)
	for seq := uint64(0); seq < 150; seq++ {
		acked.add(seq) // 150..199 sent but never acknowledged: not owed
	}
	for seq := uint64(0); seq < 200; seq++ {
		if seq == 3 || seq == 64 || (seq >= 100 && seq < 110) {
			continue // lost: 12 of the acknowledged ones
		}
		if !got.add(seq) {
			t.Fatalf("seq %d reported as not new", seq)
		}
	}
	if got.add(5) || got.add(199) { // a replay of what arrived live
		t.Fatal("a duplicate reported as new")
	}
	got.add(200) // past the set: counted apart
	if n := got.missing(acked); n != 12 {
		t.Errorf("missing = %d, want 12", n)
	}
	if got.dups != 2 || got.outOfRange != 1 || got.distinct != 188 {
		t.Errorf("dups %d outOfRange %d distinct %d, want 2 1 188", got.dups, got.outOfRange, got.distinct)
	}
	if got.has(3) || !got.has(4) || got.has(1000) {
		t.Error("has disagrees with what was added")
	}
	if l := got.lacking(acked, 3); len(l) != 3 || l[0] != 3 || l[1] != 64 || l[2] != 100 {
		t.Errorf("lacking = %v, want [3 64 100]", l)
	}
	if n := acked.missing(acked); n != 0 {
		t.Errorf("a set misses %d of itself", n)
	}
}

func TestTimeToShare(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	// 100 clients, 99 back: the 99th fastest is the answer.
	took := make([]time.Duration, 0, 99)
	for i := 99; i >= 1; i-- {
		took = append(took, time.Duration(i)*time.Millisecond)
	}
	if d, ok := timeToShare(took, 100, 0.99); !ok || d != 99*time.Millisecond {
		t.Errorf("99 of 100: %v %v, want 99ms", d, ok)
	}
	if _, ok := timeToShare(took[:98], 100, 0.99); ok {
		t.Error("98 of 100 reported as 99% done")
	}
	// Few clients: 99% of 3 is all 3.
	if _, ok := timeToShare(ms(5, 7), 3, 0.99); ok {
		t.Error("2 of 3 reported as 99% done")
	}
	if d, ok := timeToShare(ms(9, 5, 7), 3, 0.99); !ok || d != 9*time.Millisecond {
		t.Errorf("3 of 3: %v %v, want 9ms", d, ok)
	}
	if _, ok := timeToShare(nil, 0, 0.99); ok {
		t.Error("no clients reported as done")
	}
}
