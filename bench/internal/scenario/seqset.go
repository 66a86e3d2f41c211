package scenario

import (
	"math"
	"math/bits"
	"slices"
	"time"
)

// seqSet records which sequence numbers in [0, size) arrived, one bit
// each: exact loss and duplicate counts at a bounded cost (size/8 bytes).
// Numbers at or past size are counted apart, never stored.
type seqSet struct {
	bits       []uint64
	size       uint64
	distinct   int
	dups       int
	outOfRange int
}

func newSeqSet(size int) *seqSet {
	return &seqSet{bits: make([]uint64, (size+63)/64), size: uint64(size)}
}

// add records seq and reports whether it was new.
func (s *seqSet) add(seq uint64) bool {
	if seq >= s.size {
		s.outOfRange++
		return false
	}
	w, b := seq/64, uint64(1)<<(seq%64)
	if s.bits[w]&b != 0 {
		s.dups++
		return false
	}
	s.bits[w] |= b
	s.distinct++
	return true
}

// has reports whether seq arrived.
func (s *seqSet) has(seq uint64) bool {
	return seq < s.size && s.bits[seq/64]&(1<<(seq%64)) != 0
}

// missing counts the numbers of want that s lacks (want: the events the
// sender had acknowledged; both sets of the same size).
func (s *seqSet) missing(want *seqSet) int {
	n := 0
	for i, w := range want.bits {
		var got uint64
		if i < len(s.bits) {
			got = s.bits[i]
		}
		n += bits.OnesCount64(w &^ got)
	}
	return n
}

// lacking lists (up to limit of) the numbers of want that s lacks.
func (s *seqSet) lacking(want *seqSet, limit int) []uint64 {
	var out []uint64
	for seq := uint64(0); seq < want.size && len(out) < limit; seq++ {
		if want.has(seq) && !s.has(seq) {
			out = append(out, seq)
		}
	}
	return out
}

// timeToShare is how long it took until share (0.99: 99%) of total
// clients were done, from the times each one took; ok is false when fewer
// than that many ever were.
func timeToShare(took []time.Duration, total int, share float64) (d time.Duration, ok bool) {
	need := int(math.Ceil(share * float64(total)))
	if total <= 0 || need > len(took) {
		return 0, false
	}
	if need < 1 {
		need = 1
	}
	s := slices.Clone(took)
	slices.Sort(s)
	return s[need-1], true
}
