package natstest

import (
	"testing"

	"github.com/nats-io/nats.go"
)

// Connect connects to url (a bus's ClientURL, which is empty unless the bus
// listens: bus.Config.NATSAddr "127.0.0.1:0") as a backend would, and
// closes the connection when the test ends.
func Connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	if url == "" {
		t.Fatal("natstest.Connect: no URL (start the bus with a NATS listener, NATSAddr 127.0.0.1:0)")
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// SubscribeSync subscribes nc to subject and flushes: when it returns, the
// server nc is connected to holds the interest (a node of a cluster learns
// it later: poll Bus.HasInterest there).
func SubscribeSync(t testing.TB, nc *nats.Conn, subject string) *nats.Subscription {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		t.Fatalf("subscribe to %s: %v", subject, err)
	}
	return sub
}
