package scenario

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockbus/sockbus/bench/internal/eioclient"
	"github.com/sockbus/sockbus/bench/internal/stats"
)

// Server kinds.
const (
	KindSockbus  = "sockbus"
	KindSocketIO = "socketio"
	KindGWS      = "gws"
)

// Target is the server under test.
type Target struct {
	// Kind is KindSockbus, KindSocketIO or KindGWS.
	Kind string
	// URL is the server's base URL, http://127.0.0.1:<port>.
	URL string
	// NATSURL is sockbus's NATS listener (nats://127.0.0.1:<port>), when
	// the suite started it with one; empty otherwise.
	NATSURL string
	// PID is the server's process id, for CPU and memory figures; 0 leaves
	// them out.
	PID int
	// Nodes are the base URLs of a cluster's nodes (the cluster scenario;
	// URL is Nodes[0]). Clients are spread over them round-robin.
	Nodes []string
	// PIDs, when set, replaces PID: every process whose CPU time counts
	// (a cluster's nodes and its Redis), summed.
	PIDs []int
	// Kill, when set, SIGKILLs node i of Nodes (the cluster scenario's
	// node loss).
	Kill func(i int) error
	// OnWindow, if set, is called when a measurement window named name
	// opens, with its length, on a goroutine of its own; or, with length 0,
	// synchronously at a point worth a heap profile. A hook to profile
	// exactly what is measured.
	OnWindow func(name string, length time.Duration)
}

// Result is what one scenario measured on one server.
type Result struct {
	Scenario string             `json:"scenario"`
	Kind     string             `json:"kind"`
	Round    int                `json:"round"`
	Metrics  map[string]float64 `json:"metrics"`
	// Pending says why the scenario could not be measured on this server.
	Pending string   `json:"pending,omitempty"`
	Notes   []string `json:"notes,omitempty"`
	Error   string   `json:"error,omitempty"`
}

func newResult(name string, t Target) *Result {
	return &Result{Scenario: name, Kind: t.Kind, Metrics: map[string]float64{}}
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// ErrPending marks a scenario a server does not support (yet).
var ErrPending = errors.New("pending")

// padding returns n filler bytes for payloads.
func padding(n int) string { return strings.Repeat("x", n) }

// clock is the loader's timestamp base: payloads carry nanoseconds since it
// (monotonic, same process for sender and receiver).
var clock = time.Now()

func now() int64 { return int64(time.Since(clock)) }

// window is one measurement window: after warmup it reads the server's and
// the loader's counters and turns recording on; measure later it reads them
// again and turns recording off.
type window struct {
	pids       []int
	recording  atomic.Bool
	t0, t1     time.Time
	srv0, srv1 stats.Proc
	me0, me1   stats.Proc
	done       chan struct{}
	err        error
}

func startWindow(ctx context.Context, t Target, name string, warmup, measure time.Duration) *window {
	w := &window{pids: t.procs(), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		if !sleepCtx(ctx, warmup) {
			w.err = ctx.Err()
			return
		}
		w.read(&w.srv0, &w.me0)
		w.t0 = time.Now()
		w.recording.Store(true)
		if t.OnWindow != nil {
			go t.OnWindow(name, measure)
		}
		ok := sleepCtx(ctx, measure)
		w.recording.Store(false)
		w.t1 = time.Now()
		w.read(&w.srv1, &w.me1)
		if !ok {
			w.err = ctx.Err()
		}
	}()
	return w
}

// procs are the processes whose CPU time a window sums.
func (t Target) procs() []int {
	if len(t.PIDs) > 0 {
		return t.PIDs
	}
	if t.PID > 0 {
		return []int{t.PID}
	}
	return nil
}

// measured reports whether server CPU figures can be taken.
func (t Target) measured() bool { return len(t.procs()) > 0 }

func (w *window) read(srv, me *stats.Proc) {
	var sum stats.Proc
	for _, pid := range w.pids {
		p, err := stats.ReadProc(pid)
		if err != nil {
			if w.err == nil {
				w.err = fmt.Errorf("failed to read server /proc: %w", err)
			}
			continue
		}
		sum.CPUTicks += p.CPUTicks
		sum.RSSBytes += p.RSSBytes
		sum.At = p.At
	}
	*srv = sum
	if p, err := stats.ReadProc(os.Getpid()); err == nil {
		*me = p
	}
}

// closed reports whether the window is over.
func (w *window) closed() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

func (w *window) seconds() float64 { return w.t1.Sub(w.t0).Seconds() }

func (w *window) serverCPU() float64 { return stats.CPUSeconds(w.srv0, w.srv1) }

func (w *window) loaderCPU() float64 { return stats.CPUSeconds(w.me0, w.me1) }

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dialMany connects n clients with cfg, at most conc at a time, tagging
// them tag0, tag0+1... On error it closes what it dialed.
func dialMany(ctx context.Context, cfg *eioclient.Config, n, conc int, tag0 int) ([]*eioclient.Client, error) {
	if conc <= 0 {
		conc = 32
	}
	clients := make([]*eioclient.Client, n)
	var (
		next     atomic.Int64
		firstErr error
		mu       sync.Mutex
		wg       sync.WaitGroup
	)
	for w := 0; w < min(conc, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				mu.Lock()
				failed := firstErr != nil
				mu.Unlock()
				if failed {
					return
				}
				c, err := eioclient.Dial(ctx, cfg, nil)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d of %d: %w", i+1, n, err)
					}
					mu.Unlock()
					return
				}
				c.Tag = tag0 + i
				clients[i] = c
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		closeAll(clients)
		return nil, firstErr
	}
	return clients, nil
}

// closeAll cuts every client and waits (bounded) for their read loops.
func closeAll(clients []*eioclient.Client) {
	for _, c := range clients {
		if c != nil {
			c.Close()
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, c := range clients {
		if c == nil {
			continue
		}
		select {
		case <-c.Done():
		case <-time.After(time.Until(deadline)):
			return
		}
	}
}
