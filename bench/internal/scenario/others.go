package scenario

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// otherPublisher stores events of other namespaces in sockbus through its
// NATS listener, many in flight at once: the public subject
// sockbus.io.<ns>.all.msg is mapped by the server to the namespace's log.
type otherPublisher struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	names int
	next  int
	data  []byte
}

func newOtherPublisher(url string, names int) (*otherPublisher, error) {
	if names <= 0 {
		names = 1000
	}
	nc, err := nats.Connect(url, nats.Name("bench-others"))
	if err != nil {
		return nil, fmt.Errorf("failed to connect to %s: %w", url, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		nc.Close()
		return nil, err
	}
	data := []byte(`["msg",{"text":"an event of about a hundred bytes, as a chat line would be","n":12345}]`)
	return &otherPublisher{nc: nc, js: js, names: names, data: data}, nil
}

// publish stores n events, one per namespace in turn, and waits until every
// one is acknowledged (stored).
func (p *otherPublisher) publish(ctx context.Context, n int) error {
	var futures []jetstream.PubAckFuture
	for range n {
		subject := "sockbus.io.o" + strconv.Itoa(p.next%p.names) + ".all.msg"
		p.next++
		for {
			f, err := p.js.PublishAsync(subject, p.data)
			if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				select {
				case <-p.js.PublishAsyncComplete():
				case <-ctx.Done():
					return ctx.Err()
				}
				continue
			}
			if err != nil {
				return err
			}
			futures = append(futures, f)
			break
		}
		if len(futures) >= 8192 {
			if err := waitStored(ctx, futures); err != nil {
				return err
			}
			futures = futures[:0]
		}
	}
	return waitStored(ctx, futures)
}

func waitStored(ctx context.Context, futures []jetstream.PubAckFuture) error {
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("event of another name not stored: %w", err)
		case <-timeout.C:
			return errors.New("events of other names not stored in 30 s")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (p *otherPublisher) close() { p.nc.Close() }
