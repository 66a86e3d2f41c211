package socketio

import (
	"fmt"
	"strings"
	"testing"

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

// Once connected, a client's connection keeps no connect timer: an idle
// connection should hold nothing it no longer needs (issue 17 item 3).
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
	s.conn.mu.Lock()
	timer := s.conn.connectTimer
	s.conn.mu.Unlock()
	if timer != nil {
		t.Fatal("a connected client still holds its connect timer")
	}
}
