package bus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/natstest"
)

// cutProxy forwards TCP connections to a NATS server and can lose what a
// client sends deterministically: swallow stops forwarding the client's
// bytes on the open connections (keeping them, to look at), sever closes
// those connections. Connections made later are forwarded as usual.
type cutProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu        sync.Mutex
	conns     []*proxyConn
	swallowed bytes.Buffer
}

type proxyConn struct {
	client, server net.Conn
	swallow        bool
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.sever()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		pc := &proxyConn{client: c, server: s}
		p.mu.Lock()
		p.conns = append(p.conns, pc)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.toServer(pc)
		go func() {
			defer p.wg.Done()
			_, _ = io.Copy(c, s)
			_ = c.Close()
		}()
	}
}

// toServer forwards what the client sends until the connection is swallowed.
func (p *cutProxy) toServer(pc *proxyConn) {
	defer p.wg.Done()
	defer pc.server.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := pc.client.Read(buf)
		if n > 0 {
			p.mu.Lock()
			swallow := pc.swallow
			if swallow {
				p.swallowed.Write(buf[:n])
			}
			p.mu.Unlock()
			if !swallow {
				if _, err := pc.server.Write(buf[:n]); err != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *cutProxy) url() string { return "nats://" + p.ln.Addr().String() }

// swallow keeps what the clients send from now on from the server.
func (p *cutProxy) swallow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.conns {
		pc.swallow = true
	}
}

// holds reports whether the swallowed bytes contain b.
func (p *cutProxy) holds(b []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Contains(p.swallowed.Bytes(), b)
}

// sever closes every connection open now.
func (p *cutProxy) sever() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, pc := range conns {
		_ = pc.client.Close()
		_ = pc.server.Close()
	}
}

// TestSenderKeepsOrderThroughExternalReconnect: an edge's connection to its
// external NATS drops with five of a sender's publishes in flight (sent,
// never received by the server), and the sender publishes fifteen more
// while nats.go reconnects, or once it has. Every publish is stored once,
// in the sender's order: the later ones wait behind the lost ones' resend
// instead of going out first (from nats.go's reconnect buffer, or on the
// new connection before the lost ones' attempt timeout).
func TestSenderKeepsOrderThroughExternalReconnect(t *testing.T) {
	t.Run("while reconnecting", func(t *testing.T) { senderThroughReconnect(t, false) })
	t.Run("after reconnecting", func(t *testing.T) { senderThroughReconnect(t, true) })
}

// orderedPublisher publishes event i (eventData(i)) on subject from one
// Sender, stored with an ack; wait takes k acks and fails on an error, or
// when none comes within 20 s.
func orderedPublisher(t *testing.T, b *Bus, subject string, n int) (publish func(i int), wait func(k int)) {
	s := &Sender{}
	results := make(chan storedResult, n)
	publish = func(i int) {
		t.Helper()
		m := &Msg{Subject: subject, Data: []byte(eventData(i))}
		if err := b.PublishStoredBy(s, m, func(err error) { results <- storedResult{i: i, err: err} }); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	wait = func(k int) {
		t.Helper()
		for range k {
			select {
			case r := <-results:
				if r.err != nil {
					t.Fatalf("event %d: %v", r.i, r.err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("events not acked")
			}
		}
	}
	return publish, wait
}

func eventData(i int) string { return "event-" + strconv.Itoa(i) + ";" }

func senderThroughReconnect(t *testing.T, after bool) {
	ns := natstest.Start(t, "")
	proxy := startCutProxy(t, ns.Addr().String())
	b := startExternalBus(t, proxy.url())
	subject := ChannelSubject("order")
	cfg := streamOf(t, b, subject)
	const before, lost, during = 10, 5, 15
	const n = before + lost + during
	publish, wait := orderedPublisher(t, b, subject, n)
	for i := range before {
		publish(i)
	}
	wait(before)

	proxy.swallow()
	for i := before; i < before+lost; i++ {
		publish(i)
	}
	last := []byte(eventData(before + lost - 1))
	eventually.True(t, 10*time.Second, "the lost publishes left the bus", func() bool { return proxy.holds(last) })
	if after {
		// At once, well within the lost publishes' attempt timeout.
		if err := b.nc.ForceReconnect(); err != nil {
			t.Fatal(err)
		}
		eventually.True(t, 10*time.Second, "the bus reconnects", func() bool { return b.nc.Status() == nats.CONNECTED })
	} else {
		proxy.sever() // nats.go waits its ReconnectWait (2 s) before trying again
		eventually.True(t, 10*time.Second, "the bus notices the drop", func() bool { return b.nc.Status() != nats.CONNECTED })
	}
	for i := before + lost; i < n; i++ {
		publish(i)
	}
	wait(lost + during)

	storedInOrder(t, b, cfg.Name, n, eventData)
}

// TestPublishByWhileReconnecting: emits without an ack made while the
// node's connection to its external NATS is being re-established (nats.go
// buffers nothing for it) are tracked instead of failing, and stored once,
// in order, ahead of the acked ones the sender makes after them.
func TestPublishByWhileReconnecting(t *testing.T) {
	ns := natstest.Start(t, "")
	proxy := startCutProxy(t, ns.Addr().String())
	b := startExternalBus(t, proxy.url())
	subject := ChannelSubject("order")
	cfg := streamOf(t, b, subject)
	proxy.sever()
	eventually.True(t, 10*time.Second, "the bus notices the drop", func() bool { return b.nc.Status() != nats.CONNECTED })
	// A publish of no sender is not buffered for later: it fails now.
	if err := b.Publish(&Msg{Subject: subject, Data: []byte("untracked")}); !errors.Is(err, nats.ErrReconnectBufExceeded) {
		t.Fatalf("Publish while reconnecting: %v, want it refused", err)
	}
	const n = 10
	s := &Sender{}
	results := make(chan storedResult, n)
	for i := range n {
		m := &Msg{Subject: subject, Data: []byte(strconv.Itoa(i))}
		var err error
		if i < n/2 {
			err = b.PublishBy(s, m)
		} else {
			err = b.PublishStoredBy(s, m, func(err error) { results <- storedResult{i: i, err: err} })
		}
		if err != nil {
			t.Fatalf("publish %d while reconnecting: %v", i, err)
		}
	}
	for range n / 2 {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatalf("event %d: %v", r.i, r.err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("events not acked")
		}
	}
	ctx := context.Background()
	st, err := b.js.Stream(ctx, cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; got != n {
		t.Fatalf("stream holds %d messages, want %d (each once)", got, n)
	}
	for seq := uint64(1); seq <= n; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Data) != strconv.Itoa(int(seq-1)) {
			t.Fatalf("seq %d holds %q, want %d", seq, m.Data, seq-1)
		}
	}
}
