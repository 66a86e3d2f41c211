package bus

import (
	"context"
	"fmt"
)

// CheckStore reports whether this node can store events now: connected, and
// JetStream answering its account info. In a cluster only the meta leader
// answers that, so a node cut off from the quorum fails (the server replies
// "JetStream cluster not available", or nobody does before ctx ends).
func (b *Bus) CheckStore(ctx context.Context) error {
	if !b.Ready() {
		return ErrNotReady
	}
	if _, err := b.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("failed to reach JetStream: %w", err)
	}
	return nil
}
