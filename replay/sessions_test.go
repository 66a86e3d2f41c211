package replay

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
)

// SaveMany stores every record of a batch larger than its window, each
// loadable afterwards, and reports one outcome per record.
func TestSaveManyStoresEveryRecord(t *testing.T) {
	b := startBus(t, bus.HistoryConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := OpenSessions(ctx, b, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	n := 2*saveWindow + 7
	pids, records := make([]string, n), make([][]byte, n)
	for i := range pids {
		pids[i] = fmt.Sprintf("pid-%d", i)
		records[i] = []byte(fmt.Sprintf(`{"sid":"s%d"}`, i))
	}
	errs := st.SaveMany(ctx, pids, records)
	if len(errs) != n {
		t.Fatalf("%d outcomes for %d records", len(errs), n)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	for i, pid := range pids {
		if v, err := st.Load(ctx, pid); err != nil || string(v) != string(records[i]) {
			t.Fatalf("Load(%s) = %q, %v", pid, v, err)
		}
	}
}

// sessionsBucketGone opens the sessions store on a fresh bus, then deletes
// its bucket as an outage would; restore brings the bucket back.
func sessionsBucketGone(t *testing.T) (st *Sessions, restore func()) {
	t.Helper()
	b := startBus(t, bus.HistoryConfig{})
	ctx := context.Background()
	st, err := OpenSessions(ctx, b, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.JetStream().DeleteKeyValue(ctx, SessionsBucket); err != nil {
		t.Fatal(err)
	}
	return st, func() {
		t.Helper()
		if _, err := OpenSessions(ctx, b, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
}

// A batch written while the bucket is gone is not reported saved: its
// writes are retried (as Save's) until the bucket is back, and land.
func TestSaveManyRidesOutNoLeader(t *testing.T) {
	ctx := context.Background()
	st, restore := sessionsBucketGone(t)
	pids := []string{"pid-a", "pid-b", "pid-c"}
	records := [][]byte{[]byte(`{"sid":"a"}`), []byte(`{"sid":"b"}`), []byte(`{"sid":"c"}`)}
	saved := make(chan []error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		saved <- st.SaveMany(sctx, pids, records)
	}()
	select {
	case errs := <-saved:
		t.Fatalf("SaveMany returned %v while the bucket was gone", errs)
	case <-time.After(sessionAttempt + 200*time.Millisecond): // the outage itself
	}
	restore()
	select {
	case errs := <-saved:
		for i, err := range errs {
			if err != nil {
				t.Fatalf("record %d after the bucket came back: %v", i, err)
			}
		}
	case <-time.After(15 * time.Second):
		t.Fatal("SaveMany did not return after the bucket came back")
	}
	for i, pid := range pids {
		if v, err := st.Load(ctx, pid); err != nil || string(v) != string(records[i]) {
			t.Fatalf("Load(%s) = %q, %v", pid, v, err)
		}
	}
}
