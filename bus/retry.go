package bus

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// errCodeClusterNotAvail is JetStream's "temporarily unavailable" error code.
const errCodeClusterNotAvail jetstream.ErrorCode = 10008

// apiAttempt bounds one JetStream API request inside Retry.
const apiAttempt = 2 * time.Second

// Retry runs a JetStream API call until it succeeds, fails for a reason a
// retry cannot fix, or ctx ends. While a cluster elects its meta leader,
// API requests go unanswered or are refused as unavailable; a node starting
// with its peers must wait that out rather than fail.
func Retry(ctx context.Context, call func(ctx context.Context) error) error {
	return RetryEach(ctx, apiAttempt, call)
}

// RetryEach is Retry with attempts of its own length: short ones for what a
// client waits on, so a request lost to a leader that died is sent again
// instead of waiting out ctx.
func RetryEach(ctx context.Context, attempt time.Duration, call func(ctx context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := call(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// errRetry marks an error a caller of Retry knows to be passing.
var errRetry = errors.New("bus: not settled yet")

// transient reports errors that a cluster still forming returns.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, errRetry), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoHeartbeat),
		errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrReconnectBufExceeded): // the node's connection is reconnecting (connOptions)
		return true
	case errors.As(err, &apiErr):
		// 10008: JetStream system temporarily unavailable (no meta leader yet).
		return apiErr.ErrorCode == errCodeClusterNotAvail || apiErr.Code == 503
	}
	return false
}
