package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestRetryWaitsOutAFormingCluster(t *testing.T) {
	unavailable := &jetstream.APIError{Code: 503, ErrorCode: errCodeClusterNotAvail, Description: "JetStream system temporarily unavailable"}
	fails := []error{context.DeadlineExceeded, nats.ErrNoResponders, unavailable}
	calls := 0
	err := Retry(context.Background(), func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("attempt without its own deadline")
		}
		calls++
		if calls <= len(fails) {
			return fails[calls-1]
		}
		return nil
	})
	if err != nil || calls != len(fails)+1 {
		t.Fatalf("err %v after %d calls, want success on call %d", err, calls, len(fails)+1)
	}
}

func TestRetryStopsOnLastingErrors(t *testing.T) {
	bad := errors.New("stream name in use with a different config")
	calls := 0
	if err := Retry(context.Background(), func(context.Context) error { calls++; return bad }); err != bad || calls != 1 {
		t.Fatalf("err %v after %d calls, want the error after one", err, calls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	calls = 0
	err := Retry(ctx, func(context.Context) error { calls++; return nats.ErrNoResponders })
	if !errors.Is(err, nats.ErrNoResponders) || ctx.Err() == nil || calls < 2 {
		t.Fatalf("err %v after %d calls (ctx %v), want retries until ctx ended", err, calls, ctx.Err())
	}
}
