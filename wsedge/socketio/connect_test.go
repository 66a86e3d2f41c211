package socketio

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/replay"
	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// A late joiner asking for 5 events gets the last 5 it would have received,
// though the last 20 stored are for a room it is not in, then live events.
func TestLateJoinerHistorySkipsOthersRooms(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	srv := NewServer(b, Config{History: replay.NewReader(b)})
	url := "http://" + testutil.Serve(t, srv, srv.Close)
	ns := srv.Of("/h")
	index := func(i int) []byte { return fmt.Appendf(nil, "[%d]", i) }
	storeAll(t, ns.To(), "news", 6, index) // "news" 0 is older than the 5 asked for
	storeAll(t, ns.To("elsewhere"), "room", 20, index)

	c := siotest.Dial(t, url, "/socket.io/")
	c.Send(t, `0/h,{"history":5}`)
	var got []string
	for {
		p := c.NextText(t, wait)
		if strings.HasPrefix(p, "0/h,") {
			break // the CONNECT reply follows the history
		}
		got = append(got, p)
	}
	want := `2/h,["news",1] 2/h,["news",2] 2/h,["news",3] 2/h,["news",4] 2/h,["news",5]`
	if strings.Join(got, " ") != want {
		t.Fatalf("history = %v, want %s", got, want)
	}
	if err := ns.To("elsewhere").EmitRaw("room", index(20), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := ns.To().EmitRaw("news", index(6), nil, nil); err != nil {
		t.Fatal(err)
	}
	if p := c.NextText(t, wait); p != `2/h,["news",6]` {
		t.Fatalf("first live event %q, want news 6", p)
	}
}

// A Socket.IO history larger than the session's queue goes out paced on
// the client, as a channel's ?history does: with a 64 KiB queue, 256
// events of 16 KiB (4 MiB) all arrive, in order, then the CONNECT reply;
// unpaced, the replay overflowed the queue and the client was closed as a
// slow consumer.
func TestSocketIOHistoryLargerThanQueueIsPaced(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	srv := NewServer(b, Config{History: replay.NewReader(b), MaxHistory: 1000,
		Engine: engine.Config{Queue: outq.Config{MaxBytes: 64 << 10}}})
	url := "http://" + testutil.Serve(t, srv, srv.Close)
	ns := srv.Of("/p")
	const n = 256
	pad := strings.Repeat("p", 16<<10)
	storeAll(t, ns.To(), "big", n, func(i int) []byte { return fmt.Appendf(nil, `[%d,"%s"]`, i, pad) })
	c := siotest.Dial(t, url, "/socket.io/")
	c.Send(t, fmt.Sprintf(`0/p,{"history":%d}`, n))
	for i := 0; ; i++ {
		p := c.NextText(t, wait)
		if strings.HasPrefix(p, "0/p,") {
			if i != n {
				t.Fatalf("CONNECT reply after %d events, want %d", i, n)
			}
			return
		}
		if want := fmt.Sprintf(`2/p,["big",%d,"`, i); !strings.HasPrefix(p, want) {
			t.Fatalf("event %d: %.30q, want %s…", i, p, want)
		}
	}
}

// Once connected, a client's connection holds nothing for the connect
// timeout: its slot in the server's connectReaper is cleared (issue 17
// item 3: an idle connection should hold nothing it no longer needs).
func TestConnectedClientKeepsNoConnectTimer(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	srv := NewServer(b, Config{})
	url := "http://" + testutil.Serve(t, srv, srv.Close)
	got := make(chan *Socket, 1)
	srv.Of("/").OnConnection(func(s *Socket) { got <- s })
	c := siotest.Dial(t, url, "/socket.io/")
	c.Send(t, "0")
	if p := c.NextText(t, wait); !strings.HasPrefix(p, "0{") {
		t.Fatalf("CONNECT reply %q", p)
	}
	s := <-got
	r := srv.reaper
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq := s.conn.reapSeq; seq >= r.base && seq < r.next && r.q[seq-r.base].c != nil {
		t.Fatal("a connected client is still in line for the connect timeout")
	}
}

// A client that joins no namespace is closed ConnectTimeout after it
// opened, never before; one that joined is left alone. The reaper's one
// timer serves both, in the order they opened.
func TestConnectTimeoutClosesOnlyClientsThatJoinedNothing(t *testing.T) {
	const timeout = 400 * time.Millisecond
	b := testutil.StartBus(t, bus.Config{})
	srv := NewServer(b, Config{ConnectTimeout: timeout})
	url := "http://" + testutil.Serve(t, srv, srv.Close)
	start := time.Now()
	silent := siotest.Dial(t, url, "/socket.io/")
	joined := siotest.Dial(t, url, "/socket.io/")
	joined.Send(t, "0")
	if p := joined.NextText(t, wait); !strings.HasPrefix(p, "0{") {
		t.Fatalf("CONNECT reply %q", p)
	}
	select {
	case _, ok := <-silent.Packets():
		for ok { // nothing is sent to it; drain until the close
			_, ok = <-silent.Packets()
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the silent client is still open 10 s after opening")
	}
	if d := time.Since(start); d < timeout {
		t.Fatalf("the silent client was closed %v after opening, before the %v timeout", d, timeout)
	}
	joined.Emit(t, "/", "ping", `"x"`) // still served: its emit is accepted and the connection stays
	joined.Quiet(t, timeout)
	select {
	case <-joined.WS.Closed():
		t.Fatal("the client that joined a namespace was closed")
	default:
	}
}
