package channels

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// historyTimeout bounds a whole ?history=N replay.
const historyTimeout = time.Minute

// errReplaySlow means a replay's client did not take its messages in time.
var errReplaySlow = errors.New("client did not read the history in time")

// replay sends the last n messages of the channel to cc, pacing on the
// client: each message waits until cc's queue is at most half full, for up
// to the queue's write timeout, so a replay larger than the queue goes out
// in bounded batches instead of overflowing it.
func (c *Server) replay(l bus.Log, cc *channelConn, n int) (uint64, error) {
	// Not r.Context(): the request is hijacked.
	ctx, cancel := context.WithTimeout(context.Background(), historyTimeout)
	defer cancel()
	wait := c.cfg.Queue.WriteTimeout
	if wait <= 0 {
		wait = 10 * time.Second
	}
	return c.cfg.History.ChannelHistory(ctx, l, n, func(binary bool, data []byte) error {
		wctx, cancel := context.WithTimeout(ctx, wait)
		err := cc.q.WaitRoom(wctx)
		cancel()
		if err == nil {
			err = cc.q.Push(outq.NewFrame(binary, data))
		}
		if err != nil {
			return fmt.Errorf("%w: %w", errReplaySlow, err)
		}
		return nil
	})
}
