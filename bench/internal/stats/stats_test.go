package stats

import (
	"math"
	"os"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond) // 1 µs .. 10 ms
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 5}, {0.99, 9.9}, {1, 10}} {
		got := h.Quantile(c.q)
		if math.Abs(got-c.want)/c.want > 0.02 {
			t.Errorf("q%.2f = %.3f ms, want about %.3f", c.q, got, c.want)
		}
	}
	if h.Count() != 10000 {
		t.Errorf("count %d", h.Count())
	}
}

func TestBucketsAreMonotonic(t *testing.T) {
	prev := -1
	for us := uint64(0); us < 1<<22; us += 1 + us/97 {
		b := bucketOf(us)
		if b < prev || b >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d", us, b, prev)
		}
		if mid := bucketMid(b); math.Abs(mid-float64(us)) > 0.02*float64(us)+1 {
			t.Fatalf("bucketMid(bucketOf(%d)) = %f", us, mid)
		}
		prev = b
	}
	_ = bucketOf(math.MaxUint64)
}

func TestReadProcSelf(t *testing.T) {
	p, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.RSSBytes == 0 {
		t.Error("no RSS")
	}
	if ClockTicks() <= 0 {
		t.Error("no clock ticks")
	}
}
