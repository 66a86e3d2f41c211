package socketio

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/wsedge"
)

// catchUpTimeout bounds how long a replay waits for the replica answering
// its reads to apply what this node already delivered live: about a
// stream leader's election after a crash (4-9 s), when the new leader
// brings the followers up to date.
const catchUpTimeout = 10 * time.Second

// errReplicaBehind is a replay that could not read up to what the node
// delivered live before the socket was added: the caller closes the
// connection (the client resumes from the last offset it got) rather
// than leave a gap.
var errReplicaBehind = errors.New("the stream's replica stayed behind the live events")

// catchUp reads on from last until the replay covers seen, the newest
// sequence the node fanned out before the socket was added (0: none
// known). Any replica answers a direct get (the node's own first), and a
// follower applies an event only once it hears of the commit, after the
// leader republished it live: the first read can stop short of events the
// socket was never given and its hold does not have.
func catchUp(ctx context.Context, h wsedge.History, l bus.Log, last, seen uint64, fn func(bus.StoredMsg) error) (uint64, error) {
	if last >= seen {
		return last, nil
	}
	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	pause := 5 * time.Millisecond
	for last < seen {
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("replay reached %d of %d: %w", last, seen, errReplicaBehind)
		case <-time.After(pause):
		}
		pause = min(2*pause, 200*time.Millisecond)
		more, err := h.Since(ctx, l, last, fn)
		switch {
		case errors.Is(err, bus.ErrHistoryGone):
			// A replica further behind answered ("past the end"): ask again.
		case err != nil:
			return last, err
		default:
			last = max(last, more)
		}
	}
	return last, nil
}
