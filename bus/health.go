package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// CheckStore reports whether this node can store events now: connected,
// JetStream answering its account info (in a cluster only the meta leader
// answers that), and every stream of the layout answering its info (only a
// stream's leader does, so a stream without quorum fails). The streams are
// asked in parallel; ctx bounds the whole check.
func (b *Bus) CheckStore(ctx context.Context) error {
	if !b.Ready() {
		return ErrNotReady
	}
	if _, err := b.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("failed to reach JetStream: %w", err)
	}
	var streams []*Stream
	if l := b.layout; l != nil {
		streams = append(streams, l.shared...)
		for _, s := range l.own {
			streams = append(streams, s)
		}
	}
	errs := make([]error, len(streams))
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.JS.Info(ctx); err != nil {
				errs[i] = fmt.Errorf("stream %s has no leader: %w", s.Name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
