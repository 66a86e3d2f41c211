package wheel

import (
	"sync"
	"time"
)

// slots is the ring's length: a Timer further out than slots ticks waits in
// its slot for its round to come (checked at each pass).
const slots = 256

// Wheel fires Timers on one goroutine, which runs only while a Timer is
// armed. The zero value is not usable: see New.
type Wheel struct {
	tick  time.Duration
	start time.Time // tick 0

	mu     sync.Mutex
	ring   [slots][]entry
	done   int64 // ticks up to this one have been fired
	armed  int   // Timers armed (entries in the ring may be stale)
	runs   bool  // the goroutine is running
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup // the goroutine (an ending one and its successor may overlap)
}

// entry is a Timer as armed for tick due: stale once the Timer was stopped
// or armed again (its due differs).
type entry struct {
	t   *Timer
	due int64
}

// Timer is one callback's schedule on a Wheel. Embed it by value in the
// connection it serves (no allocation of its own: 24 bytes) and set it up
// once with Init; arm it with Wheel.Reset.
type Timer struct {
	f   Firer
	due int64 // 0: not armed; guarded by the wheel's mu
}

// Firer is what a Timer runs. A pointer type (the connection, or a named
// type converted from it) makes a Firer without allocating, where a method
// value would allocate a closure per connection.
type Firer interface {
	// Fire runs on the wheel's goroutine each time its Timer fires: it must
	// not block (take a lock, queue a frame, start a goroutine for
	// anything longer) and must not call Wheel.Close.
	Fire()
}

// New returns a wheel whose Timers fire up to tick late.
func New(tick time.Duration) *Wheel {
	if tick <= 0 {
		tick = time.Millisecond
	}
	return &Wheel{tick: tick, start: time.Now(), stop: make(chan struct{})}
}

// Tick is the wheel's resolution.
func (w *Wheel) Tick() time.Duration { return w.tick }

// Init sets what t runs; call it before t is first armed.
func (t *Timer) Init(f Firer) { t.f = f }

// Reset arms t to fire once, no sooner than d from now and at most about a
// tick later, replacing any earlier schedule. It does nothing once the
// wheel is closed. A Timer belongs to one wheel at a time.
func (w *Wheel) Reset(t *Timer, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	// The first tick that starts at or after now+d: never early.
	due := int64((time.Since(w.start) + d + w.tick - 1) / w.tick)
	due = max(due, w.done+1)
	if t.due == 0 {
		w.armed++
	}
	t.due = due
	i := due % slots
	w.ring[i] = append(w.ring[i], entry{t, due})
	if !w.runs {
		w.runs = true
		w.wg.Add(1)
		go w.run()
	}
}

// Stop disarms t; it reports whether t was armed. A callback already
// collected for the current tick may still run once.
func (w *Wheel) Stop(t *Timer) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t.due == 0 {
		return false
	}
	t.due = 0
	w.armed--
	return true
}

// Close stops the wheel: armed Timers never fire, Reset does nothing, and
// the goroutine has ended when Close returns.
func (w *Wheel) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	close(w.stop)
	w.dropAllLocked()
	w.mu.Unlock()
	w.wg.Wait()
}

// run fires due Timers every tick until none is armed or the wheel closes.
func (w *Wheel) run() {
	defer w.wg.Done()
	tk := time.NewTicker(w.tick)
	defer tk.Stop()
	var fire []Firer
	for {
		select {
		case <-w.stop:
			return
		case <-tk.C:
		}
		var more bool
		fire, more = w.collect(fire[:0])
		for i, f := range fire {
			f.Fire() // may Reset: a new goroutine starts if this one is ending
			fire[i] = nil
		}
		if !more {
			return
		}
	}
}

// collect advances the wheel to now and appends the callbacks due to fire;
// more is false (the goroutine ends) once no Timer is armed.
func (w *Wheel) collect(fire []Firer) (_ []Firer, more bool) {
	now := int64(time.Since(w.start) / w.tick)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fire, false
	}
	for ; w.done < now && w.armed > 0; w.done++ {
		n := w.done + 1
		i := n % slots
		kept := w.ring[i][:0]
		for _, e := range w.ring[i] {
			switch {
			case e.t.due != e.due: // stopped or armed again
			case e.due == n:
				e.t.due = 0
				w.armed--
				fire = append(fire, e.t.f)
			default: // a later round
				kept = append(kept, e)
			}
		}
		clear(w.ring[i][len(kept):])
		w.ring[i] = kept
	}
	if w.armed > 0 {
		return fire, true
	}
	w.done = max(w.done, now)
	w.dropAllLocked() // every entry left is stale
	w.runs = false
	return fire, false
}

// dropAllLocked forgets every entry (all stale, or the wheel is closed).
func (w *Wheel) dropAllLocked() {
	for i := range w.ring {
		w.ring[i] = nil
	}
}
