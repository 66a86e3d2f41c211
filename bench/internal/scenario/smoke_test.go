package scenario

import (
	"context"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bench/internal/gwsrelay"
)

// The scenarios against the in-process bare relay, tiny and short: a smoke
// test that keeps the harness working. No figure is checked.
func startRelay(t *testing.T) Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relay := gwsrelay.New(gwsrelay.Config{})
	srv := &http.Server{Handler: relay}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		relay.Close()
	})
	return Target{Kind: KindGWS, URL: "http://" + ln.Addr().String(), PID: os.Getpid()}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func phases() []Phase {
	return []Phase{
		{Name: "p50", Rate: 50, Warmup: 100 * time.Millisecond, Measure: 300 * time.Millisecond},
		{Name: "sat", Warmup: 100 * time.Millisecond, Measure: 300 * time.Millisecond},
	}
}

// checkDelivered checks that the figures exist; their values are timings,
// which a smoke test must not judge.
func checkDelivered(t *testing.T, r *Result, keys ...string) {
	t.Helper()
	t.Log(r.Metrics, r.Notes)
	for _, k := range keys {
		if _, ok := r.Metrics[k]; !ok {
			t.Errorf("%s: no %s; metrics %v notes %v", r.Scenario, k, r.Metrics, r.Notes)
		}
	}
}

func TestSmokeFanout(t *testing.T) {
	tg := startRelay(t)
	r, err := Fanout(ctxFor(t), tg, FanoutConfig{Room: "fan", Receivers: 20, Phases: phases()})
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, r, "p50.deliveries_per_s", "sat.deliveries_per_s", "sat.p99_ms")
}

func TestSmokePlainFanout(t *testing.T) {
	tg := startRelay(t)
	r, err := Fanout(ctxFor(t), tg, FanoutConfig{Plain: true, Room: "fan", Receivers: 20, Phases: phases()})
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, r, "p50.deliveries_per_s", "sat.deliveries_per_s")
}

func TestSmokeAcks(t *testing.T) {
	tg := startRelay(t)
	r, err := Acks(ctxFor(t), tg, AcksConfig{Clients: 5, Warmup: 100 * time.Millisecond, Measure: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, r, "acks.acks_per_s", "acks.p50_ms")
}

func TestSmokeIdle(t *testing.T) {
	tg := startRelay(t)
	r, err := Idle(ctxFor(t), tg, IdleConfig{Conns: 50, Settle: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, r, "idle.accepts_per_s")
}

func TestSmokeReplayOnBareRelayIsNA(t *testing.T) {
	tg := startRelay(t)
	r, err := Replay(ctxFor(t), tg, ReplayConfig{Missed: 10})
	if err != nil || r.Pending == "" {
		t.Fatalf("err %v pending %q", err, r.Pending)
	}
	tg.Kind = KindSockbus // the relay gives no pid: reported as pending, not an error
	r, err = Replay(ctxFor(t), tg, ReplayConfig{Missed: 10})
	if err != nil || r.Pending == "" {
		t.Fatalf("err %v pending %q", err, r.Pending)
	}
}

func TestSmokeStormOnBareRelayIsNA(t *testing.T) {
	tg := startRelay(t)
	r, err := Storm(ctxFor(t), tg, StormConfig{Clients: 10})
	if err != nil || r.Pending == "" {
		t.Fatalf("err %v pending %q", err, r.Pending)
	}
	tg.Kind = KindSockbus // the relay gives no pid: reported as pending, not an error
	r, err = Storm(ctxFor(t), tg, StormConfig{Clients: 10})
	if err != nil || r.Pending == "" {
		t.Fatalf("err %v pending %q", err, r.Pending)
	}
}
