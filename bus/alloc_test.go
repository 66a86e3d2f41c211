package bus

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// The live copy of a stored event takes the publish's header map instead
// of copying it: three allocations (the Msg, the sequence's digits, one
// array for both new values), whatever the number of headers; and it
// carries every header but the message id, plus the sequence and stream.
func TestLiveCopyTakesTheHeaderMap(t *testing.T) {
	h := nats.Header{"Sockbus-Except": {"a"}, "Sockbus-From": {"b"}, "Sockbus-User": {"c"}}
	id := []string{"tag.1"}
	data := []byte(`["ev"]`)
	p := &pendingAck{live: "sockbus.live.io.x.all.ev"}
	var m *Msg
	allocs := testing.AllocsPerRun(200, func() {
		h[headerMsgID] = id
		p.msg = nats.Msg{Header: h, Data: data}
		m = liveCopy(p, Stored{Stream: "S", Seq: 123456})
	})
	if allocs > 3 {
		t.Fatalf("a live copy allocates %v times, want at most 3", allocs)
	}
	want := map[string]string{"Sockbus-Except": "a", "Sockbus-From": "b", "Sockbus-User": "c",
		HeaderSequence: "123456", HeaderStream: "S"}
	if len(m.Header) != len(want) || m.Subject != p.live || string(m.Data) != string(data) {
		t.Fatalf("live copy %s %v %q, want headers %v", m.Subject, m.Header, m.Data, want)
	}
	for k, v := range want {
		if got := m.Header[k]; len(got) != 1 || got[0] != v {
			t.Fatalf("live copy's %s is %q, want %q", k, got, v)
		}
	}
}

// Registering a stored publish allocates the pending publish and one
// string: its first reply subject, whose tail after replyPrefix (the
// multiplexer's random tag and the key) is the message id, and which the
// first send uses as is (send builds a subject only for resends).
func TestRegisterMakesOneStringForReplyAndID(t *testing.T) {
	b := startBus(t, Config{})
	a, s := b.replies, &Sender{}
	h := nats.Header{}
	var p *pendingAck
	allocs := testing.AllocsPerRun(200, func() {
		s.mu.Lock()
		var err error
		p, err = a.register(s, nats.Msg{Subject: "x", Header: h}, "", ackCallback{}, "")
		s.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		a.forget(p)
	})
	if allocs > 2 {
		t.Fatalf("register allocates %v times, want at most 2", allocs)
	}
	if !strings.HasPrefix(p.reply, a.prefix) || p.msgID[0] != p.reply[len(replyPrefix):] ||
		h.Get(headerMsgID) != p.msgID[0] || !strings.Contains(p.msgID[0], ".") {
		t.Fatalf("reply %q, message id %q (header %q), want the reply's tail after %q",
			p.reply, p.msgID[0], h.Get(headerMsgID), replyPrefix)
	}
	// A caller's id is kept as given.
	s.mu.Lock()
	q, err := a.register(s, nats.Msg{Subject: "x", Header: nats.Header{}}, "", ackCallback{}, "mine")
	s.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	a.forget(q)
	if q.msg.Header.Get(headerMsgID) != "mine" {
		t.Fatalf("caller's message id became %q", q.msg.Header.Get(headerMsgID))
	}
}

// The node's in-process connection writes without a deadline: nats.go's
// default (a minute) set and cleared one around every flush, arming and
// stopping a timer per flush for a pipe only the server's read loop drains.
func TestInProcessConnectionHasNoWriteDeadline(t *testing.T) {
	b := startBus(t, Config{})
	if d := b.nc.Opts.FlusherTimeout; d != 0 {
		t.Fatalf("in-process connection's flusher timeout %v, want none", d)
	}
}
