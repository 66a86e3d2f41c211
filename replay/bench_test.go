package replay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockbus/sockbus/bus"
)

// The read benchmarks measure Since and Last on a store that holds a million
// events of other names besides the measured ones (issue 9's targets: a
// short drop ≤ 5 ms, the last 20 of a quiet name ≤ 20 ms). One fill builds
// a fixture per layout; the data dir is kept under os.TempDir() and reused
// by later runs (delete it to refill: see fixtureDir).
//
// Timeline of a fill, per layout (others: namespaces o0 … o999 in turn, one
// event each step):
//
//	quiet, own_quiet:            20 events, then silence for the whole fill
//	spreadfew, own_spreadfew:    one event before the fill, then 1,000 spread evenly over it
//	spreadmany, own_spreadmany:  one event before the fill, then 10,000 spread evenly over it
//	tail, own_tail:              10,001 events after the fill, back to back
//
// own_* are declared (--own-namespaces): a stream of their own. The others
// are hashed over the shared streams, so with 4 shared streams the shard of
// a measured name holds about a quarter of the million; with 1, all of it.
const benchOtherNames = 1000

// fillSpec sizes a fill: others events of other names, few and many events
// of the measured names (1,000 and 10,000 in the benchmark).
type fillSpec struct{ others, few, many int }

var benchSpec = fillSpec{others: 1_000_000, few: 1000, many: 10_000}

func (s fillSpec) String() string {
	return fmt.Sprintf("o%d-f%d-m%d", s.others, s.few, s.many)
}

func countLabel(n int) string {
	if n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

var benchOwn = []string{"/own_quiet", "/own_spreadfew", "/own_spreadmany", "/own_tail"}

// readCase is one measured read.
type readCase struct {
	name string
	tok  string // the measured namespace
	want int    // messages it must deliver
	// read runs the read once (pos: the sequences it starts from).
	read func(ctx context.Context, r *Reader, l bus.Log, pos positions) (int, error)
}

// positions of a measured name in its log, found before timing.
type positions struct {
	first, last uint64
}

func sinceFrom(after func(positions) uint64) func(context.Context, *Reader, bus.Log, positions) (int, error) {
	return func(ctx context.Context, r *Reader, l bus.Log, pos positions) (int, error) {
		n := 0
		_, err := r.Since(ctx, l, after(pos), func(bus.StoredMsg) error { n++; return nil })
		return n, err
	}
}

func lastN(n int) func(context.Context, *Reader, bus.Log, positions) (int, error) {
	return func(ctx context.Context, r *Reader, l bus.Log, _ positions) (int, error) {
		got := 0
		_, err := r.Last(ctx, l, n, nil, func(bus.StoredMsg) error { got++; return nil })
		return got, err
	}
}

// readCases lists the reads, each on a shared-stream name and on its
// declared twin. Positions: the first spread event is the one stored before
// the fill, so Since(first) misses every event of the drop that followed.
func readCases(s fillSpec) []readCase {
	var cases []readCase
	few, many := countLabel(s.few), countLabel(s.many)
	for _, own := range []string{"", "own_"} {
		where := "shared"
		if own != "" {
			where = "own"
		}
		cases = append(cases,
			readCase{name: "since" + few + "-spread/" + where, tok: own + "spreadfew", want: s.few,
				read: sinceFrom(func(p positions) uint64 { return p.first })},
			readCase{name: "since" + many + "-spread/" + where, tok: own + "spreadmany", want: s.many,
				read: sinceFrom(func(p positions) uint64 { return p.first })},
			readCase{name: "since" + few + "-recent/" + where, tok: own + "tail", want: s.few,
				read: sinceFrom(func(p positions) uint64 { return p.last - uint64(s.few) })},
			readCase{name: "since" + many + "-recent/" + where, tok: own + "tail", want: s.many,
				read: sinceFrom(func(p positions) uint64 { return p.first })},
			readCase{name: "last20-quiet/" + where, tok: own + "quiet", want: 20, read: lastN(20)},
			readCase{name: "last20-busy/" + where, tok: own + "spreadmany", want: 20, read: lastN(20)},
		)
	}
	return cases
}

// fixture is a filled store.
type fixture struct {
	dir    string
	shards int
	bus    *bus.Bus
}

func fixtureConfig(dir string, shards int) bus.Config {
	// No retention by count: with one shared stream the default of 1M per
	// stream would drop the quiet names' events.
	return bus.Config{DataDir: dir, Layout: bus.LayoutConfig{SharedStreams: shards, OwnNamespaces: benchOwn},
		History: bus.HistoryConfig{MaxMsgs: -1}}
}

// fixtureDir is where the fill for a layout and size is kept between runs.
func fixtureDir(shards int, s fillSpec) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("sockbus-replay-bench-v1-s%d-%s", shards, s))
}

// openFixture opens the store in dir, filling it first unless a complete
// fill is there.
func openFixture(tb testing.TB, dir string, shards int, s fillSpec) *fixture {
	tb.Helper()
	done := filepath.Join(dir, "filled")
	if _, err := os.Stat(done); err != nil {
		if err := os.RemoveAll(dir); err != nil {
			tb.Fatal(err)
		}
		start := time.Now()
		b, err := bus.Start(context.Background(), fixtureConfig(dir, shards))
		if err != nil {
			tb.Fatal(err)
		}
		err = fillStore(b, s)
		closeBus(tb, b)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(done, nil, 0o644); err != nil {
			tb.Fatal(err)
		}
		tb.Logf("filled %s in %v", dir, time.Since(start).Round(time.Millisecond))
	}
	f := &fixture{dir: dir, shards: shards}
	f.open(tb)
	return f
}

func (f *fixture) open(tb testing.TB) {
	tb.Helper()
	b, err := bus.Start(context.Background(), fixtureConfig(f.dir, f.shards))
	if err != nil {
		tb.Fatal(err)
	}
	f.bus = b
}

// reopen restarts the node on the same files: the next read is cold (no
// block of the file store cached, as after a restart or once the store's
// cache expired; the OS page cache may still hold the files).
func (f *fixture) reopen(tb testing.TB) {
	tb.Helper()
	closeBus(tb, f.bus)
	f.open(tb)
}

func closeBus(tb testing.TB, b *bus.Bus) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		tb.Errorf("close bus: %v", err)
	}
}

// fillStore publishes the fixture's timeline (see the top of this file)
// with many publishes in flight, then checks that everything was stored.
func fillStore(b *bus.Bus, s fillSpec) error {
	payload := []byte(`["msg",{"text":"an event of about a hundred bytes, as a chat line would be","n":12345}]`)
	stored := 0
	pub := func(tok string) error {
		m := &bus.Msg{Subject: "sockbus.io." + tok + ".all.msg", Header: bus.Header{}}
		m.Header.Set(bus.HeaderFrom, "sid-"+tok)
		m.Data = payload
		for {
			err := b.Publish(m)
			if errors.Is(err, jetstream.ErrTooManyStalledMsgs) || errors.Is(err, bus.ErrBusy) {
				_ = b.WaitStored(context.Background())
				m.Subject = "sockbus.io." + tok + ".all.msg" // Publish rewrote it
				continue
			}
			if err == nil {
				stored++
			}
			return err
		}
	}
	both := func(tok string) error {
		if err := pub(tok); err != nil {
			return err
		}
		return pub("own_" + tok)
	}
	for range 20 {
		if err := both("quiet"); err != nil {
			return err
		}
	}
	if err := both("spreadfew"); err != nil {
		return err
	}
	if err := both("spreadmany"); err != nil {
		return err
	}
	// One measured event after every everyFew (everyMany) others.
	everyFew, everyMany := s.others/s.few, s.others/s.many
	for i := range s.others {
		if err := pub("o" + strconv.Itoa(i%benchOtherNames)); err != nil {
			return err
		}
		if i%everyFew == everyFew-1 && i/everyFew < s.few {
			if err := both("spreadfew"); err != nil {
				return err
			}
		}
		if i%everyMany == everyMany-1 && i/everyMany < s.many {
			if err := both("spreadmany"); err != nil {
				return err
			}
		}
	}
	for range s.many + 1 {
		if err := both("tail"); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := b.WaitStored(wctx); err != nil {
		return err
	}
	var total uint64
	ctx := context.Background()
	for name := range b.JetStream().StreamNames(ctx).Name() {
		s, err := b.JetStream().Stream(ctx, name)
		if err != nil {
			return err
		}
		total += s.CachedInfo().State.Msgs
	}
	if total != uint64(stored) {
		return fmt.Errorf("stored %d messages, published %d", total, stored)
	}
	return nil
}

// namePositions finds the first and last sequence of a name's log.
func namePositions(ctx context.Context, r *Reader, l bus.Log) (positions, error) {
	first, ok, err := r.one(ctx, l.Stream, directRequest{Seq: 1, NextBySubj: l.Filter})
	if err != nil || !ok {
		return positions{}, fmt.Errorf("no first message of %s: %v", l.Filter, err)
	}
	last, ok, err := r.lastSeq(ctx, l)
	if err != nil || !ok {
		return positions{}, fmt.Errorf("no last message of %s: %v", l.Filter, err)
	}
	return positions{first: first, last: last}, nil
}

// runCase runs c once against f and checks what it delivered.
func runCase(ctx context.Context, f *fixture, c readCase, pos positions) error {
	l := f.bus.Log(bus.KindNamespace, c.tok)
	n, err := c.read(ctx, NewReader(f.bus), l, pos)
	if err != nil {
		return err
	}
	if n != c.want {
		return fmt.Errorf("%s delivered %d messages, want %d", c.name, n, c.want)
	}
	return nil
}

// BenchmarkReadFilled measures each read of readCases on a store with a
// million events of other names, for 4 shared streams (the default) and 1
// (the worst case: every other name in the measured name's stream). ns/op
// and ms/op are warm (the store's blocks cached by the previous run);
// cold-ms is the first read after the node reopened the store.
//
//	go test -run x -bench ReadFilled -benchtime 20x ./replay
func BenchmarkReadFilled(b *testing.B) {
	ctx := context.Background()
	for _, shards := range []int{4, 1} {
		b.Run("shared="+strconv.Itoa(shards), func(b *testing.B) {
			f := openFixture(b, fixtureDir(shards, benchSpec), shards, benchSpec)
			b.Cleanup(func() { closeBus(b, f.bus) })
			for _, c := range readCases(benchSpec) {
				var cold float64
				b.Run(c.name, func(b *testing.B) {
					if cold == 0 {
						f.reopen(b)
						pos, err := namePositions(ctx, NewReader(f.bus), f.bus.Log(bus.KindNamespace, c.tok))
						if err != nil {
							b.Fatal(err)
						}
						f.reopen(b) // the position probes read blocks too
						start := time.Now()
						if err := runCase(ctx, f, c, pos); err != nil {
							b.Fatal(err)
						}
						cold = float64(time.Since(start).Microseconds()) / 1000
					}
					pos, err := namePositions(ctx, NewReader(f.bus), f.bus.Log(bus.KindNamespace, c.tok))
					if err != nil {
						b.Fatal(err)
					}
					if err := runCase(ctx, f, c, pos); err != nil { // warm up
						b.Fatal(err)
					}
					b.ResetTimer()
					start, cpu0 := time.Now(), cpuTime()
					for range b.N {
						if err := runCase(ctx, f, c, pos); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/op")
					b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
					b.ReportMetric(cold, "cold-ms")
				})
			}
		})
	}
}

// BenchmarkAckDuringLongRead measures what a long read does to the node's
// stored publishes: while one reader crosses the whole shared stream
// (10,000 events spread over a million others, one shared stream), a
// publisher stores events one at a time and waits for each to be stored.
// ack-max-ms is the longest wait during the read: read=none is the
// publisher alone for 500 ms (the machine's own stalls), read=direct reads
// by direct gets only, read=consumer as Since does for 512 messages or more.
//
//	go test -run '^$' -bench AckDuringLongRead -benchtime 5x ./replay
func BenchmarkAckDuringLongRead(b *testing.B) {
	ctx := context.Background()
	f := openFixture(b, fixtureDir(1, benchSpec), 1, benchSpec)
	b.Cleanup(func() { closeBus(b, f.bus) })
	l := f.bus.Log(bus.KindNamespace, "spreadmany")
	pos, err := namePositions(ctx, NewReader(f.bus), l)
	if err != nil {
		b.Fatal(err)
	}
	for _, read := range []string{"none", "direct", "consumer"} {
		b.Run("read="+read, func(b *testing.B) {
			r := NewReader(f.bus)
			if read == "direct" {
				r.js = nil
			}
			var worst, readMs float64
			for range b.N {
				stop := make(chan struct{})
				waits := make(chan time.Duration, 1)
				go func() { waits <- ackWhile(b, f.bus, stop) }()
				start := time.Now()
				n, err := benchSpec.many, error(nil)
				if read == "none" {
					<-time.After(500 * time.Millisecond)
				} else {
					n = 0
					_, err = r.Since(ctx, l, pos.first, func(bus.StoredMsg) error { n++; return nil })
				}
				readMs += float64(time.Since(start).Microseconds()) / 1000
				close(stop)
				w := <-waits
				if err != nil || n != benchSpec.many {
					b.Fatalf("read %d messages, %v", n, err)
				}
				worst = max(worst, float64(w.Microseconds())/1000)
			}
			b.ReportMetric(worst, "ack-max-ms")
			b.ReportMetric(readMs/float64(b.N), "read-ms")
		})
	}
}

// ackWhile stores events one after the other on the node's connection until
// stop closes, and returns the longest wait for one to be stored.
func ackWhile(tb testing.TB, b *bus.Bus, stop chan struct{}) time.Duration {
	var worst time.Duration
	done := make(chan error, 1)
	for {
		select {
		case <-stop:
			return worst
		default:
		}
		m := &bus.Msg{Subject: "sockbus.io.acker.all.msg", Header: bus.Header{}}
		m.Data = []byte(`["ping"]`)
		start := time.Now()
		if err := b.PublishStored(m, func(err error) { done <- err }); err != nil {
			tb.Error(err)
			return worst
		}
		if err := <-done; err != nil {
			tb.Error(err)
			return worst
		}
		worst = max(worst, time.Since(start))
	}
}

// cpuTime is the process's user and system CPU time: the node and the
// reader run in this process, so per read it is the work the read cost,
// which a busy shared machine stretches less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestReadFilledSmoke runs every read of the benchmark on a small fill, so
// that the benchmark's cases stay correct (counts checked) without its cost.
func TestReadFilledSmoke(t *testing.T) {
	ctx := context.Background()
	for _, shards := range []int{4, 1} {
		spec := fillSpec{others: 2000, few: 10, many: 100}
		f := openFixture(t, t.TempDir(), shards, spec)
		for _, c := range readCases(spec) {
			pos, err := namePositions(ctx, NewReader(f.bus), f.bus.Log(bus.KindNamespace, c.tok))
			if err != nil {
				t.Fatal(err)
			}
			if err := runCase(ctx, f, c, pos); err != nil {
				t.Errorf("shared=%d: %v", shards, err)
			}
		}
		f.reopen(t)
		closeBus(t, f.bus)
	}
}
