package metrics

import (
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds, in seconds, of every Histogram:
// 0.5 ms to 10 s, enough resolution for a loopback ack and a slow disk.
var LatencyBuckets = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Histogram counts durations into LatencyBuckets with atomic adds. The zero
// value is ready; it is safe for concurrent use.
type Histogram struct {
	buckets [len(LatencyBuckets) + 1]atomic.Uint64 // the last is +Inf
	count   atomic.Uint64
	sumNs   atomic.Uint64
}

// Observe records one duration (negative counts as zero).
func (h *Histogram) Observe(d time.Duration) {
	d = max(d, 0)
	sec := d.Seconds()
	i := 0
	for i < len(LatencyBuckets) && sec > LatencyBuckets[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNs.Add(uint64(d))
	h.count.Add(1)
}

// HistogramSnapshot is a Histogram's values: Buckets[i] counts observations
// at most LatencyBuckets[i] (cumulative, as Prometheus wants).
type HistogramSnapshot struct {
	Buckets [len(LatencyBuckets)]uint64
	Count   uint64
	Sum     float64 // seconds
}

// Snapshot reads the histogram.
func (h *Histogram) Snapshot() HistogramSnapshot {
	var out HistogramSnapshot
	var cum uint64
	for i := range LatencyBuckets {
		cum += h.buckets[i].Load()
		out.Buckets[i] = cum
	}
	out.Count = cum + h.buckets[len(LatencyBuckets)].Load()
	out.Sum = time.Duration(h.sumNs.Load()).Seconds()
	return out
}
