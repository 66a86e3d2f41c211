package socketio

import (
	"bufio"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockbus/sockbus/metrics"
)

// BenchmarkRelayAck is one acknowledged event end to end, as the acks
// benchmark (bench/) drives it, in process: a client over a real engine
// session on loopback WebSocket emits `421["ev",{...}]`, the relay app
// (handlers.Relay's shape: broadcast to the namespace but the sender, in
// the socket's order, ack once stored) publishes it to JetStream on disk,
// and the client reads `431[]` before the next. Metrics are on, as in the
// binary. cpu-µs/op is the whole process's CPU (client, server, embedded
// NATS) per ack; allocs/op counts every goroutine's allocations.
func BenchmarkRelayAck(b *testing.B) {
	srv, _, url := startIO(b, Config{Metrics: new(metrics.Set), EventsPerSecond: -1}) // the bench lifts the limit too
	srv.Of("/").OnConnection(func(s *Socket) {
		s.OnAny(func(e *Event) {
			var onStored func(error)
			if e.WantsAck() {
				onStored = e.AckStored
			}
			if err := s.Broadcast().EmitRaw(e.Name, e.Args, e.Attachments, onStored); err != nil {
				_ = e.AckError(ErrAckNotDelivered)
			}
		})
	})
	c := rawSocket(b, strings.TrimPrefix(url, "http://"))
	const payload = `421["ev",{"n":1,"text":"hello"}]`
	frame := append([]byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...) // masked, zero key
	br := bufio.NewReader(c)
	var head [2]byte
	buf := make([]byte, 125)
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(frame); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := io.ReadFull(br, head[:]); err != nil {
				b.Fatal(err)
			}
			n := int(head[1] & 0x7F)
			if n > len(buf) {
				b.Fatalf("frame of %d bytes", n)
			}
			if _, err := io.ReadFull(br, buf[:n]); err != nil {
				b.Fatal(err)
			}
			if string(buf[:n]) == "431[]" {
				break
			}
			if string(buf[:n]) != "2" { // an engine ping would be the only other frame
				b.Fatalf("unexpected frame %q", buf[:n])
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
