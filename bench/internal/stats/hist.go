package stats

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Sub-buckets per power of two: values keep about 1.6% precision.
const (
	subBits    = 6
	subBuckets = 1 << subBits
	maxShift   = 40
	numBuckets = (maxShift + 2) * subBuckets
)

// Histogram counts durations in log-linear buckets (microsecond unit, about
// 1.6% precision, up to days). Record is safe for concurrent use and does
// not allocate; read it once writers are done.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sumUS  atomic.Uint64
	maxUS  atomic.Uint64
}

func bucketOf(us uint64) int {
	shift := bits.Len64(us) - (subBits + 1)
	if shift <= 0 {
		return int(us) // [0, 128)
	}
	if shift > maxShift {
		shift = maxShift
		us = (1 << (maxShift + subBits + 1)) - 1
	}
	return shift*subBuckets + int(us>>uint(shift)) // [shift*64+64, shift*64+128)
}

// bucketMid is a representative value (microseconds) of bucket i.
func bucketMid(i int) float64 {
	if i < 2*subBuckets {
		return float64(i)
	}
	shift := i/subBuckets - 1
	m := uint64(i - shift*subBuckets)
	lo := m << uint(shift)
	return float64(lo) + float64(uint64(1)<<uint(shift))/2
}

// Record adds one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	h.counts[bucketOf(us)].Add(1)
	h.n.Add(1)
	h.sumUS.Add(us)
	for {
		m := h.maxUS.Load()
		if us <= m || h.maxUS.CompareAndSwap(m, us) {
			break
		}
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Quantile returns the q-quantile (0 < q ≤ 1) in milliseconds, 0 when empty.
func (h *Histogram) Quantile(q float64) float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return bucketMid(i) / 1000
		}
	}
	return float64(h.maxUS.Load()) / 1000
}

// MeanMS is the mean in milliseconds.
func (h *Histogram) MeanMS() float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sumUS.Load()) / float64(n) / 1000
}

// MaxMS is the largest value in milliseconds.
func (h *Histogram) MaxMS() float64 { return float64(h.maxUS.Load()) / 1000 }
