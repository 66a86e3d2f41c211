package bus

import (
	"strconv"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
)

// The embedded server closing the node's connection (as it closes a slow
// consumer's) does not leave the node without a bus: nats.go reconnects
// in-process and resubscribes, stored publishes work again, the loss is
// counted, and the node stays alive.
func TestConnectionComesBackAfterServerClosesIt(t *testing.T) {
	b := startBus(t, Config{})
	tok, _ := EncodeToken("back")
	got := make(chan *Msg, 100)
	sub, err := b.Subscribe(Live(ChannelSubject(tok)), func(m *Msg) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	cid, err := b.nc.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ns.DisconnectClientByID(cid); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 10*time.Second, "bus connected again", func() bool {
		c, err := b.nc.GetClientID()
		return err == nil && c != cid && b.Ready()
	})
	if n := b.Disconnects(); n != 1 {
		t.Errorf("Disconnects() = %d, want 1", n)
	}
	if err := b.Alive(); err != nil {
		t.Errorf("Alive() after the reconnect: %v", err)
	}
	storeWait(t, b, &Msg{Subject: ChannelSubject(tok), Data: []byte("after")}, "the publish after reconnect")
	if m := receive(t, got, "subscription did not come back"); string(m.Data) != "after" || m.Header.Get(HeaderSequence) != strconv.Itoa(1) {
		t.Fatalf("got %q seq %s", m.Data, m.Header.Get(HeaderSequence))
	}
}

// A node whose connection is closed for good is not alive (so /healthz
// answers 503 and a supervisor restarts it), and still closes cleanly.
func TestClosedConnectionIsNotAlive(t *testing.T) {
	b := startBus(t, Config{})
	if err := b.Alive(); err != nil {
		t.Fatalf("Alive() at start: %v", err)
	}
	b.nc.Close()
	if err := b.Alive(); err == nil {
		t.Fatal("Alive() with the node's connection closed: nil")
	}
}

// History reads go over a connection of their own: the server closing
// it leaves the node's connection alone.
func TestReadConnIsApart(t *testing.T) {
	b := startBus(t, Config{})
	node, _ := b.nc.GetClientID()
	reads, err := b.ReadConn().GetClientID()
	if err != nil || reads == node {
		t.Fatalf("read connection %d (%v), node's %d", reads, err, node)
	}
	if err := b.ns.DisconnectClientByID(reads); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 10*time.Second, "read connection back", func() bool {
		c, err := b.ReadConn().GetClientID()
		return err == nil && c != reads
	})
	if c, _ := b.nc.GetClientID(); c != node {
		t.Errorf("node's connection changed from %d to %d", node, c)
	}
}
