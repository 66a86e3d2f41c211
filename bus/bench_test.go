package bus

import (
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStoredAck is the bus's share of an acknowledged Socket.IO event
// in the acks benchmark (bench/): 50 publishers, each in its own
// namespace (hashed over the shared streams), each waiting until its event is stored (PublishStoredBy)
// before sending the next, while the node's live subscription receives every
// stored event. Besides ns/op it reports the whole process's CPU time per
// stored event (embedded server, file store, nats.go): a floor under the CPU
// any acked, persisted event costs sockbus, with no WebSocket in it.
// "node" is a single node without a NATS listener, which publishes its
// stored events live itself (live.go); "republish" has a listener, so its
// streams' RePublish does it (as in a cluster).
func BenchmarkStoredAck(b *testing.B) {
	b.Run("node", func(b *testing.B) { benchStoredAck(b, Config{}) })
	b.Run("republish", func(b *testing.B) { benchStoredAck(b, Config{NATSAddr: "127.0.0.1:0"}) })
}

func benchStoredAck(b *testing.B, cfg Config) {
	const publishers = 50
	bus := startBus(b, cfg)
	for i := range publishers {
		tok := "ack" + strconv.Itoa(i)
		sub, err := bus.Subscribe(Live("sockbus.io."+tok+".>"), func(*Msg) {})
		if err != nil {
			b.Fatal(err)
		}
		defer sub.Unsubscribe()
	}
	payload := []byte(`["ev",{"n":1,"text":"hello"}]`)
	var left atomic.Int64
	left.Store(int64(b.N))
	cpu0 := cpuTime()
	start := time.Now()
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			subject := "sockbus.io.ack" + strconv.Itoa(i) + ".all.ev"
			done := make(chan error, 1)
			var order Sender // one socket's ordering point, as wsedge has
			for left.Add(-1) >= 0 {
				m := &Msg{Subject: subject, Header: Header{HeaderFrom: {"sid" + strconv.Itoa(i)}}, Data: payload}
				if err := bus.PublishStoredBy(&order, m, func(err error) { done <- err }); err != nil {
					b.Error(err)
					return
				}
				if err := <-done; err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "stored/s")
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPublishBy: one sender keeps 32 emits nobody waits for in
// flight, each counted when its stored copy reaches the live subject;
// PublishBy (no acknowledgement while nothing is unfinished) side by side
// with PublishStoredBy (tracked and acknowledged). Compare cpu-µs/op.
func BenchmarkPublishBy(b *testing.B) {
	for _, mode := range []string{"PublishBy", "PublishStoredBy"} {
		b.Run(mode, func(b *testing.B) {
			bus := startBus(b, Config{})
			got := make(chan struct{}, 64)
			sub, err := bus.Subscribe(Live("sockbus.io.win.>"), func(*Msg) { got <- struct{}{} })
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Unsubscribe()
			payload := []byte(`["ev",{"n":1,"text":"hello"}]`)
			var order Sender
			cpu0 := cpuTime()
			start := time.Now()
			b.ResetTimer()
			inflight := 0
			for range b.N {
				for ; inflight >= 32; inflight-- {
					<-got
				}
				m := &Msg{Subject: "sockbus.io.win.all.ev", Header: Header{HeaderFrom: {"sid1"}}, Data: payload}
				if mode == "PublishBy" {
					err = bus.PublishBy(&order, m)
				} else {
					err = bus.PublishStoredBy(&order, m, nil)
				}
				if err != nil {
					b.Fatal(err)
				}
				inflight++
			}
			for ; inflight > 0; inflight-- {
				<-got
			}
			b.StopTimer()
			elapsed, cpu := time.Since(start), cpuTime()-cpu0
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "stored/s")
		})
	}
}
