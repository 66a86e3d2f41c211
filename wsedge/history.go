package wsedge

import (
	"context"

	"github.com/sockbus/sockbus/bus"
)

// History reads stored messages back. It is implemented by package replay
// and plugged in by app (wsedge never reads JetStream itself).
type History interface {
	// ChannelHistory calls emit with the last n messages of a channel's
	// log, oldest first, and returns the last sequence it covered.
	ChannelHistory(ctx context.Context, l bus.Log, n int, emit func(binary bool, data []byte) error) (uint64, error)
	// Since calls fn in order for every message stored after sequence
	// after and returns the last sequence it covered; bus.ErrHistoryGone
	// (and no call to fn) when those messages were already dropped.
	Since(ctx context.Context, l bus.Log, after uint64, fn func(bus.StoredMsg) error) (uint64, error)
	// Last calls fn, oldest first, for the last n messages of the log
	// that keep accepts (all of them if fewer are stored; nil keep accepts
	// every message), and returns the sequence of the log's newest message
	// when the call began, whatever was kept. Messages keep refuses do not count toward
	// n. The implementation may bound how far back it looks (replay.Reader:
	// max(64n, 100,000) of the log's messages).
	Last(ctx context.Context, l bus.Log, n int, keep func(bus.StoredMsg) bool, fn func(bus.StoredMsg) error) (uint64, error)
}

// SessionStore keeps recoverable-session records where every node can
// read them and a crash does not lose them; records expire one recovery
// window after their last Save. Implemented by replay.Sessions.
type SessionStore interface {
	Save(ctx context.Context, pid string, record []byte) error
	// Load returns nil when the session is unknown or expired.
	Load(ctx context.Context, pid string) ([]byte, error)
	Delete(ctx context.Context, pid string) error
}

// SessionBatchStore is a SessionStore that can pipeline saves: SaveMany
// sends a batch of records before awaiting their acknowledgements. errs[i]
// is the outcome of pids[i], as Save's.
type SessionBatchStore interface {
	SessionStore
	SaveMany(ctx context.Context, pids []string, records [][]byte) (errs []error)
}
