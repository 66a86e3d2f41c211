package wheel

import (
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// stamp records when a Timer fired and how often.
type stamp struct {
	n  atomic.Int32
	at atomic.Int64 // UnixNano of the last fire
}

func (s *stamp) Fire() { s.at.Store(time.Now().UnixNano()); s.n.Add(1) }

// fireFunc makes a func a Firer.
type fireFunc func()

func (f fireFunc) Fire() { f() }

func TestTimerFiresNeverEarlyAndAboutATickLate(t *testing.T) {
	w := New(5 * time.Millisecond)
	defer w.Close()
	var s stamp
	var tm Timer
	tm.Init(&s)
	start := time.Now()
	w.Reset(&tm, 60*time.Millisecond)
	eventually.True(t, 5*time.Second, "the timer fired", func() bool { return s.n.Load() == 1 })
	if d := time.Duration(s.at.Load() - start.UnixNano()); d < 60*time.Millisecond {
		t.Fatalf("fired %v after Reset(60ms): early", d)
	}
	if eventually.Within(50*time.Millisecond, func() bool { return s.n.Load() > 1 }) {
		t.Fatal("a one-shot timer fired twice")
	}
}

func TestStoppedTimerNeverFires(t *testing.T) {
	w := New(2 * time.Millisecond)
	defer w.Close()
	var stopped, witness stamp
	var a, b Timer
	a.Init(&stopped)
	b.Init(&witness)
	w.Reset(&a, 20*time.Millisecond)
	w.Reset(&b, 40*time.Millisecond) // fires after a's time: the wheel did pass a's slot
	if !w.Stop(&a) {
		t.Fatal("Stop of an armed timer reported false")
	}
	if w.Stop(&a) {
		t.Fatal("second Stop reported true")
	}
	eventually.True(t, 5*time.Second, "the witness fired", func() bool { return witness.n.Load() == 1 })
	if n := stopped.n.Load(); n != 0 {
		t.Fatalf("stopped timer fired %d times", n)
	}
}

func TestResetReplacesTheEarlierSchedule(t *testing.T) {
	w := New(2 * time.Millisecond)
	defer w.Close()
	var s stamp
	var tm Timer
	tm.Init(&s)
	start := time.Now()
	w.Reset(&tm, 10*time.Millisecond)
	w.Reset(&tm, 80*time.Millisecond) // the 10 ms entry is stale now
	eventually.True(t, 5*time.Second, "the timer fired", func() bool { return s.n.Load() >= 1 })
	if d := time.Duration(s.at.Load() - start.UnixNano()); d < 80*time.Millisecond {
		t.Fatalf("fired %v after the reset to 80ms", d)
	}
	if eventually.Within(40*time.Millisecond, func() bool { return s.n.Load() > 1 }) {
		t.Fatalf("fired %d times", s.n.Load())
	}
}

// A timer further out than the ring waits in its slot for its round.
func TestTimerBeyondTheRingFiresInItsRound(t *testing.T) {
	w := New(time.Millisecond)
	defer w.Close()
	var s stamp
	var tm Timer
	tm.Init(&s)
	start := time.Now()
	d := (slots + slots/2) * time.Millisecond
	w.Reset(&tm, d)
	eventually.True(t, 10*time.Second, "the timer fired", func() bool { return s.n.Load() == 1 })
	if got := time.Duration(s.at.Load() - start.UnixNano()); got < d {
		t.Fatalf("fired %v after Reset(%v)", got, d)
	}
}

func TestManyTimersFireOnceEach(t *testing.T) {
	w := New(time.Millisecond)
	defer w.Close()
	const n = 2000
	var fired atomic.Int32
	counts := make([]atomic.Int32, n)
	timers := make([]Timer, n)
	for i := range timers {
		timers[i].Init(fireFunc(func() { counts[i].Add(1); fired.Add(1) }))
		w.Reset(&timers[i], time.Duration(i%50)*time.Millisecond)
	}
	eventually.True(t, 10*time.Second, "every timer fired", func() bool { return fired.Load() == n })
	if eventually.Within(20*time.Millisecond, func() bool { return fired.Load() > n }) {
		t.Fatalf("%d fires for %d timers", fired.Load(), n)
	}
	for i := range counts {
		if c := counts[i].Load(); c != 1 {
			t.Fatalf("timer %d fired %d times", i, c)
		}
	}
}

// A callback that arms its own Timer again (a heartbeat) keeps firing.
func TestCallbackMayResetItsTimer(t *testing.T) {
	w := New(time.Millisecond)
	defer w.Close()
	var n atomic.Int32
	var tm Timer
	tm.Init(fireFunc(func() {
		if n.Add(1) < 5 {
			w.Reset(&tm, 3*time.Millisecond)
		}
	}))
	w.Reset(&tm, 3*time.Millisecond)
	eventually.True(t, 5*time.Second, "five fires", func() bool { return n.Load() == 5 })
}

// wheelGoroutines counts goroutines running the wheel's loop.
func wheelGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		// A goroutine that has not run yet shows only its wrapper.
		if strings.Contains(g, "wheel.(*Wheel).run(") || strings.Contains(g, "wheel.(*Wheel).Reset.gowrap") {
			n++
		}
	}
	return n
}

// With nothing armed, the wheel holds no goroutine (an idle node pays no
// ticks); Close ends the one that runs and makes Reset a no-op.
func TestGoroutineOnlyWhileArmed(t *testing.T) {
	w := New(time.Millisecond)
	var tm, far Timer
	tm.Init(fireFunc(func() {}))
	w.Reset(&tm, 5*time.Millisecond)
	if g := wheelGoroutines(); g != 1 {
		t.Fatalf("%d wheel goroutines with a timer armed", g)
	}
	eventually.True(t, 5*time.Second, "the goroutine ended", func() bool { return wheelGoroutines() == 0 })
	w.Reset(&tm, time.Millisecond)
	w.Stop(&tm)
	eventually.True(t, 5*time.Second, "the goroutine ended after Stop", func() bool { return wheelGoroutines() == 0 })
	var s stamp
	far.Init(&s)
	w.Reset(&far, 20*time.Millisecond)
	w.Close()
	if g := wheelGoroutines(); g != 0 {
		t.Fatalf("%d wheel goroutines after Close", g)
	}
	w.Reset(&far, time.Millisecond)
	if eventually.Within(50*time.Millisecond, func() bool { return s.n.Load() > 0 || wheelGoroutines() > 0 }) {
		t.Fatal("a timer fired or a goroutine started after Close")
	}
}
