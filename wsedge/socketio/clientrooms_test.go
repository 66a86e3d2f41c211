package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/natstest"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge"
)

// ackOf waits for the answer to ack id on c, skipping other packets, and
// returns its arguments.
func ackOf(t *testing.T, c *siotest.Client, nsp string, id int) string {
	t.Helper()
	head := fmt.Sprintf("3%d", id)
	if nsp != "/" {
		head = fmt.Sprintf("3%s,%d", nsp, id)
	}
	for {
		p := c.NextText(t, wait)
		if strings.HasPrefix(p, head+"[") {
			return strings.TrimPrefix(p, head)
		}
	}
}

// nextEvent waits for the next EVENT packet on c.
func nextEvent(t *testing.T, c *siotest.Client) string {
	t.Helper()
	for {
		p := c.Next(t, wait)
		if strings.HasPrefix(p.Text, "2") || strings.HasPrefix(p.Text, "5") {
			return p.Text
		}
	}
}

const ackOK = `[{"ok":true}]`

func ackErr(reason string) string { return `[{"error":"` + reason + `"}]` }

// roomUsers admits auth.token as the user, granting the client rooms of
// auth.rooms.
type roomUsers struct{}

func (roomUsers) Authorize(_ context.Context, r wsedge.AuthRequest) (wsedge.Grant, error) {
	var a struct {
		Token string
		Rooms []string
	}
	_ = json.Unmarshal(r.Auth, &a)
	return wsedge.Grant{User: a.Token, ClientRooms: a.Rooms}, nil
}

// Clients join a room, publish to it and leave it themselves: a room
// publish reaches exactly the room's other members (not the sender, not a
// non-member: each proved by a marker sent after it), its ack comes after
// the store, and after a leave nothing more arrives. The sockbus: events
// never reach the socket's handlers, and the rooms are the socket's own
// (Rooms, FetchSockets). Counted by op and result.
func TestClientRoomsJoinPublishLeave(t *testing.T) {
	counters := new(metrics.Set)
	srv, _, url := startIO(t, Config{ClientRooms: &ClientRooms{Allow: []string{"*"}}, Metrics: counters})
	var mu sync.Mutex
	var handled []string
	srv.Of("/").OnConnection(func(s *Socket) {
		s.OnAny(func(e *Event) {
			mu.Lock()
			handled = append(handled, e.Name)
			mu.Unlock()
		})
	})
	a, b, outside := siotest.Dial(t, url, "/socket.io/"), siotest.Dial(t, url, "/socket.io/"), siotest.Dial(t, url, "/socket.io/")
	aID := a.ConnectID(t, "/", "")
	b.ConnectID(t, "/", "")
	outside.ConnectID(t, "/", "")
	a.Send(t, siotest.Event("/", 1, JoinEvent, `"lobby"`))
	b.Send(t, siotest.Event("/", 1, JoinEvent, `"lobby"`))
	if got := ackOf(t, a, "/", 1); got != ackOK {
		t.Fatalf("join ack %s", got)
	}
	if got := ackOf(t, b, "/", 1); got != ackOK {
		t.Fatalf("join ack %s", got)
	}
	if rooms := srv.Of("/").Socket(aID).Rooms(); len(rooms) != 2 || rooms[1] != "lobby" {
		t.Fatalf("rooms %v", rooms)
	}
	fetched, err := srv.Of("/").In("lobby").FetchSockets(context.Background())
	if err != nil || len(fetched) != 2 {
		t.Fatalf("fetchSockets in lobby: %v (%v)", fetched, err)
	}

	a.Send(t, siotest.Event("/", 2, ToEvent, `"lobby","chat","hi",{"n":1}`))
	if got := ackOf(t, a, "/", 2); got != "[]" {
		t.Fatalf("publish ack %s", got)
	}
	if got := nextEvent(t, b); got != `2["chat","hi",{"n":1}]` {
		t.Fatalf("member got %q", got)
	}
	if err := srv.Of("/").Emit("marker"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*siotest.Client{a, outside} {
		if got := nextEvent(t, c); got != `2["marker"]` {
			t.Fatalf("sender or non-member got %q before the marker", got)
		}
	}

	b.Send(t, siotest.Event("/", 3, LeaveEvent, `"lobby"`))
	if got := ackOf(t, b, "/", 3); got != ackOK {
		t.Fatalf("leave ack %s", got)
	}
	a.Send(t, siotest.Event("/", 3, ToEvent, `"lobby","chat","after"`))
	ackOf(t, a, "/", 3)
	if err := srv.Of("/").Emit("marker2"); err != nil {
		t.Fatal(err)
	}
	// b may still have the first marker to read (reading the leave ack
	// skipped what came before it); then only the second.
	for got := nextEvent(t, b); got != `2["marker2"]`; got = nextEvent(t, b) {
		if got != `2["marker"]` {
			t.Fatalf("a member that left got %q", got)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, name := range handled {
		if strings.HasPrefix(name, ServerEventPrefix) {
			t.Fatalf("handlers saw %q", name)
		}
	}
	snap := counters.Snapshot()
	if snap.RoomOps[metrics.RoomJoin][0] != 2 || snap.RoomOps[metrics.RoomLeave][0] != 1 || snap.RoomOps[metrics.RoomPublish][0] != 2 {
		t.Fatalf("room ops counted %v", snap.RoomOps)
	}
}

// A room publish carries binary arguments: placeholders and attachments
// reach the member as the sender sent them.
func TestClientRoomPublishBinary(t *testing.T) {
	_, _, url := startIO(t, Config{ClientRooms: &ClientRooms{Allow: []string{"*"}}})
	a, b := siotest.Dial(t, url, "/socket.io/"), siotest.Dial(t, url, "/socket.io/")
	a.ConnectID(t, "/", "")
	b.ConnectID(t, "/", "")
	for _, c := range []*siotest.Client{a, b} {
		c.Send(t, siotest.Event("/", 1, JoinEvent, `"bin"`))
		ackOf(t, c, "/", 1)
	}
	a.Send(t, `52-7["sockbus:to","bin","file",{"_placeholder":true,"num":0},"name",{"_placeholder":true,"num":1}]`)
	a.SendBinary(t, []byte{1, 2, 3})
	a.SendBinary(t, []byte{9})
	if got := ackOf(t, a, "/", 7); got != "[]" {
		t.Fatalf("ack %s", got)
	}
	if got := nextEvent(t, b); got != `52-["file",{"_placeholder":true,"num":0},"name",{"_placeholder":true,"num":1}]` {
		t.Fatalf("member got %q", got)
	}
	if p := b.Next(t, wait); string(p.Binary) != "\x01\x02\x03" {
		t.Fatalf("first attachment %q", p.Binary)
	}
	if p := b.Next(t, wait); string(p.Binary) != "\x09" {
		t.Fatalf("second attachment %+v", p)
	}
}

// Who may join what: Config.ClientRooms's patterns with {user} (a user
// taken literally: "a*" is no wildcard), the grant's own patterns, and
// nothing when client rooms are off. Hostile names get "bad room name";
// every refusal is counted and changes nothing.
func TestClientRoomsWhoMayJoin(t *testing.T) {
	counters := new(metrics.Set)
	srv, _, url := startIO(t, Config{Authorizer: roomUsers{},
		ClientRooms: &ClientRooms{Allow: []string{"user-{user}", "public-*", "dots.*"}}, Metrics: counters})
	join := func(c *siotest.Client, id int, room string) string {
		raw, _ := json.Marshal(room)
		c.Send(t, siotest.Event("/", id, JoinEvent, string(raw)))
		return ackOf(t, c, "/", id)
	}
	alice := siotest.Dial(t, url, "/socket.io/")
	aliceID := alice.ConnectID(t, "/", `{"token":"alice","rooms":["vip-*"]}`)
	star := siotest.Dial(t, url, "/socket.io/")
	star.ConnectID(t, "/", `{"token":"a*"}`)
	anon := siotest.Dial(t, url, "/socket.io/")
	anon.ConnectID(t, "/", `{}`)
	for i, tc := range []struct {
		c          *siotest.Client
		room, want string
	}{
		{alice, "user-alice", ackOK},
		{alice, "public-1", ackOK},
		{alice, "vip-lounge", ackOK},
		{alice, "dots.a.>", ackOK},
		{alice, "user-bob", ackErr(ErrAckRoomNotAllowed)},
		{alice, "private", ackErr(ErrAckRoomNotAllowed)},
		{alice, "", ackErr(ErrAckBadRoom)},
		{alice, "public-" + strings.Repeat("x", 300), ackErr(ErrAckBadRoom)},
		{alice, "public-6789abcdefghi", ackErr(ErrAckBadRoom)}, // shaped like a socket id
		{star, "user-a*", ackOK},
		{star, "user-abc", ackErr(ErrAckRoomNotAllowed)},
		{star, "vip-lounge", ackErr(ErrAckRoomNotAllowed)},
		{anon, "user-", ackErr(ErrAckRoomNotAllowed)},
		{anon, "public-2", ackOK},
	} {
		if got := join(tc.c, 10+i, tc.room); got != tc.want {
			t.Errorf("join %.40q: %s, want %s", tc.room, got, tc.want)
		}
	}
	alice.Send(t, siotest.Event("/", 40, JoinEvent, `42`))
	if got := ackOf(t, alice, "/", 40); got != ackErr(ErrAckBadRoom) {
		t.Errorf("join of a number: %s", got)
	}
	alice.Send(t, siotest.Event("/", 41, LeaveEvent, `"private"`))
	if got := ackOf(t, alice, "/", 41); got != ackErr(ErrAckRoomNotAllowed) {
		t.Errorf("leave of a room not allowed: %s", got)
	}
	alice.Send(t, siotest.Event("/", 42, "sockbus:nope", `"x"`))
	if got := ackOf(t, alice, "/", 42); got != ackErr(ErrAckUnknownServerEvent) {
		t.Errorf("unknown sockbus event: %s", got)
	}
	want := []string{aliceID, "dots.a.>", "public-1", "user-alice", "vip-lounge"}
	got := srv.Of("/").Socket(aliceID).Rooms()
	if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
		t.Fatalf("alice's rooms %v, want %v", got, want)
	}
	if snap := counters.Snapshot(); snap.RoomOps[metrics.RoomJoin] != [2]uint64{6, 9} || snap.RoomOps[metrics.RoomLeave] != [2]uint64{0, 1} {
		t.Fatalf("room ops %v", snap.RoomOps)
	}

	off, _, offURL := startIO(t, Config{})
	_ = off
	c := siotest.Dial(t, offURL, "/socket.io/")
	c.ConnectID(t, "/", "")
	if got := join(c, 1, "lobby"); got != ackErr(ErrAckClientRoomsOff) {
		t.Fatalf("join with client rooms off: %s", got)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// A client publishes only to rooms it is in (not its own id), never a
// reserved or sockbus: event; a refused publish stores nothing.
func TestClientRoomPublishRefusals(t *testing.T) {
	counters := new(metrics.Set)
	srv, _, url := startIO(t, Config{ClientRooms: &ClientRooms{Allow: []string{"*"}}, Metrics: counters})
	a, b := siotest.Dial(t, url, "/socket.io/"), siotest.Dial(t, url, "/socket.io/")
	aID := a.ConnectID(t, "/", "")
	b.ConnectID(t, "/", "")
	b.Send(t, siotest.Event("/", 1, JoinEvent, `"lobby"`))
	ackOf(t, b, "/", 1)
	a.Send(t, siotest.Event("/", 1, JoinEvent, `"mine"`))
	ackOf(t, a, "/", 1)
	for i, tc := range []struct{ args, want string }{
		{`"lobby","chat","x"`, ErrAckNotMember},
		{`"` + aID + `","chat","x"`, ErrAckNotMember},
		{`"mine","sockbus:join","lobby"`, ErrAckBadEvent},
		{`"mine","connect"`, ErrAckBadEvent},
		{`"mine",""`, ErrAckBadEvent},
		{`"mine",7`, ErrAckBadEvent},
		{`"mine"`, ErrAckBadRoom},
		{`{"room":"mine"},"chat"`, ErrAckBadRoom},
	} {
		a.Send(t, siotest.Event("/", 10+i, ToEvent, tc.args))
		if got := ackOf(t, a, "/", 10+i); got != ackErr(tc.want) {
			t.Errorf("publish %s: %s, want %s", tc.args, got, ackErr(tc.want))
		}
	}
	if err := srv.Of("/").Emit("marker"); err != nil {
		t.Fatal(err)
	}
	if got := nextEvent(t, b); got != `2["marker"]` {
		t.Fatalf("a refused publish reached %q", got)
	}
	if snap := counters.Snapshot(); snap.RoomOps[metrics.RoomPublish] != [2]uint64{0, 8} {
		t.Fatalf("publish ops %v", snap.RoomOps[metrics.RoomPublish])
	}
}

// Joins count against the connection's event budget and the socket's room
// bound (its own id aside): a flood of joins gets "too many rooms" past
// MaxRooms, then "rate limit exceeded" past the budget, and the socket
// stays in MaxRooms rooms.
func TestClientRoomJoinFlood(t *testing.T) {
	counters := new(metrics.Set)
	srv, _, url := startIO(t, Config{ClientRooms: &ClientRooms{Allow: []string{"*"}}, MaxRooms: 3,
		EventsPerSecond: 0.001, EventBurst: 10, Metrics: counters})
	c := siotest.Dial(t, url, "/socket.io/")
	id := c.ConnectID(t, "/", "") // the CONNECT took one event of ten
	var got []string
	for i := range 20 {
		c.Send(t, siotest.Event("/", i, JoinEvent, fmt.Sprintf(`"room-%d"`, i)))
	}
	for i := range 20 {
		got = append(got, ackOf(t, c, "/", i))
	}
	for i, ack := range got {
		want := ackOK
		switch {
		case i >= 9:
			want = ackErr(ErrAckRateLimited)
		case i >= 3:
			want = ackErr(ErrAckTooManyRooms)
		}
		if ack != want {
			t.Errorf("join %d: %s, want %s", i, ack, want)
		}
	}
	if rooms := srv.Of("/").Socket(id).Rooms(); len(rooms) != 4 {
		t.Fatalf("rooms %v, want its id and 3", rooms)
	}
	eventually.True(t, wait, "refusals counted", func() bool {
		s := counters.Snapshot()
		return s.RoomOps[metrics.RoomJoin] == [2]uint64{3, 6} && s.Refused[metrics.ReasonRateLimit] == 11
	})
}

// A member that dropped recovers the room it joined itself and the room
// publish it missed, replayed on recovery.
func TestClientRoomRecovered(t *testing.T) {
	e := newRecoveryEnv(t, Config{ClientRooms: &ClientRooms{Allow: []string{"*"}}})
	alice := siotest.Dial(t, e.url, "/socket.io/")
	reply := alice.Connect(t, "/m", `{"token":"alice"}`)
	var hello struct{ Sid, Pid string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(reply, "0/m,")), &hello); err != nil || hello.Pid == "" {
		t.Fatalf("CONNECT reply %q", reply)
	}
	<-e.conns
	bob := siotest.Dial(t, e.url, "/socket.io/")
	bob.ConnectID(t, "/m", `{"token":"bob"}`)
	<-e.conns
	for _, c := range []*siotest.Client{alice, bob} {
		c.Send(t, siotest.Event("/m", 1, JoinEvent, `"lobby"`))
		if got := ackOf(t, c, "/m", 1); got != ackOK {
			t.Fatalf("join %s", got)
		}
	}
	bob.Send(t, siotest.Event("/m", 2, ToEvent, `"lobby","chat","first"`))
	ackOf(t, bob, "/m", 2)
	var args []any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(nextEvent(t, alice), "2/m,")), &args); err != nil || len(args) != 3 || args[1] != "first" {
		t.Fatalf("first publish %v (%v)", args, err)
	}
	offset := args[2].(string)
	alice.WS.Close()
	eventually.True(t, wait, "alice's session stored", func() bool {
		raw, err := e.store.Load(context.Background(), hello.Pid)
		return err == nil && e.srv.Of("/m").Socket(hello.Sid) == nil && strings.Contains(string(raw), "lobby")
	})
	bob.Send(t, siotest.Event("/m", 3, ToEvent, `"lobby","chat","missed"`))
	if got := ackOf(t, bob, "/m", 3); got != "[]" {
		t.Fatalf("publish ack %s", got)
	}
	again := siotest.Dial(t, e.url, "/socket.io/")
	auth, _ := json.Marshal(map[string]string{"token": "alice", "pid": hello.Pid, "offset": offset})
	again.Send(t, "0/m,"+string(auth))
	if got := nextEvent(t, again); !strings.HasPrefix(got, `2/m,["chat","missed",`) {
		t.Fatalf("replayed %q", got)
	}
	s := <-e.conns
	if !s.Recovered() || fmt.Sprint(sorted(s.Rooms())) != fmt.Sprint(sorted([]string{hello.Sid, "lobby"})) {
		t.Fatalf("recovered %v with rooms %v", s.Recovered(), s.Rooms())
	}
}

// The server's own events stay on the server: a NATS handler subscribed to
// sockbus.in.> sees none of them (the first it gets is the ordinary event
// sent after), and the server's Observer (the admin UI's feed) hears of a
// client's join as of any join.
func TestServerEventsNotForwarded(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{NATSAddr: "127.0.0.1:0"}) // for the backend
	srv := NewServer(b, Config{ClientRooms: &ClientRooms{Allow: []string{"*"}}})
	url := "http://" + testutil.Serve(t, srv, srv.Close)
	joined := make(chan string, 4)
	stop := srv.Observe(Observer{Joined: func(_ *Socket, room string) { joined <- room }})
	defer stop()
	sub := natstest.SubscribeSync(t, natstest.Connect(t, b.ClientURL()), "sockbus.in.>")
	eventually.True(t, wait, "interest in sockbus.in", func() bool { return b.HasInterest("sockbus.in.~.after") })
	c := siotest.Dial(t, url, "/socket.io/")
	c.ConnectID(t, "/", "")
	c.Send(t, siotest.Event("/", 1, JoinEvent, `"lobby"`))
	if got := ackOf(t, c, "/", 1); got != ackOK {
		t.Fatalf("join %s", got)
	}
	c.Send(t, siotest.Event("/", 2, ToEvent, `"lobby","chat","x"`))
	ackOf(t, c, "/", 2)
	c.Emit(t, "/", "sockbus:other", `1`)
	c.Emit(t, "/", "after", `1`)
	m, err := sub.NextMsg(wait)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "sockbus.in.~.after" {
		t.Fatalf("first forwarded subject %q, want sockbus.in.~.after", m.Subject)
	}
	select {
	case r := <-joined:
		if r != "lobby" {
			t.Fatalf("observer heard of %q", r)
		}
	case <-time.After(wait):
		t.Fatal("the observer did not hear of the client's join")
	}
}
