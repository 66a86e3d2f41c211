package metrics

import (
	"testing"
	"time"
)

func TestNilSetCountsNothing(t *testing.T) {
	var s *Set
	s.Events(KindSocketIO, 1, 10)
	s.Delivered(KindWebSocket, 3, 30)
	s.Refused(ReasonOrigin)
	s.Disconnected(KindSocketIO, ReasonShutdown)
	s.Outcome(RecoveryRecovered)
	s.PublishError()
	s.ObserveAck(time.Now())
	s.ObserveStore(time.Now())
	if s.On() || s.Snapshot() != (Snapshot{}) {
		t.Fatal("a nil Set counted something")
	}
}

func TestSetCounts(t *testing.T) {
	s := new(Set)
	s.Events(KindWebSocket, 2, 7)
	s.Delivered(KindSocketIO, 50, 500)
	s.Delivered(KindSocketIO, 0, 0) // a message nobody here wanted
	s.Refused(ReasonRateLimit)
	s.Refused(ReasonClientClose) // not a refusal: ignored
	s.Disconnected(KindWebSocket, ReasonBadUTF8)
	s.Disconnected(KindWebSocket, Reason(200)) // unknown: other
	s.Outcome(RecoveryHistoryGone)
	got := s.Snapshot()
	switch {
	case got.EventsIn[KindWebSocket] != 2 || got.BytesIn[KindWebSocket] != 7:
		t.Errorf("events in %d/%d", got.EventsIn[KindWebSocket], got.BytesIn[KindWebSocket])
	case got.EventsOut[KindSocketIO] != 2 || got.Deliveries[KindSocketIO] != 50 || got.BytesOut[KindSocketIO] != 500:
		t.Errorf("out %d/%d/%d", got.EventsOut[KindSocketIO], got.Deliveries[KindSocketIO], got.BytesOut[KindSocketIO])
	case got.Refused[ReasonRateLimit] != 1 || got.Refused != [numRefusals]uint64{ReasonRateLimit: 1}:
		t.Errorf("refused %v", got.Refused)
	case got.Disconnects[KindWebSocket][ReasonBadUTF8] != 1 || got.Disconnects[KindWebSocket][ReasonOther] != 1:
		t.Errorf("disconnects %v", got.Disconnects[KindWebSocket])
	case got.Outcomes[RecoveryHistoryGone] != 1:
		t.Errorf("outcomes %v", got.Outcomes)
	}
}

func TestHistogramBuckets(t *testing.T) {
	var h Histogram
	h.Observe(300 * time.Microsecond) // ≤ 0.5 ms
	h.Observe(time.Millisecond)       // ≤ 1 ms (bounds are inclusive)
	h.Observe(3 * time.Second)        // ≤ 5 s
	h.Observe(time.Minute)            // +Inf only
	got := h.Snapshot()
	if got.Count != 4 || got.Buckets[0] != 1 || got.Buckets[1] != 2 || got.Buckets[len(LatencyBuckets)-1] != 3 {
		t.Fatalf("snapshot %+v", got)
	}
	if want := 60 + 3 + 0.0013; got.Sum < want-1e-9 || got.Sum > want+1e-9 {
		t.Fatalf("sum %v, want %v", got.Sum, want)
	}
}

func TestLabelsAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range DisconnectReasons() {
		if seen[r.String()] {
			t.Fatalf("label %q twice", r)
		}
		seen[r.String()] = true
	}
	if len(RefusalReasons()) != 8 || RefusalReasons()[7] != ReasonPingTimeout {
		t.Fatalf("refusal reasons %v", RefusalReasons())
	}
}
