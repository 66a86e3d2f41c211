package wsedge

import (
	"context"

	"github.com/sockbus/sockbus/bus"
)

// History reads stored messages for late joiners. It is implemented by
// package replay and plugged in by main.
type History interface {
	// ChannelHistory calls emit with the last n messages of a channel's
	// stream, oldest first.
	ChannelHistory(ctx context.Context, s *bus.Stream, n int, emit func(binary bool, data []byte) error) error
}
