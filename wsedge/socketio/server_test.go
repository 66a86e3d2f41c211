package socketio

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/natstest"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/wsedge"
)

const wait = 5 * time.Second

// storeAll emits n events named event through op, the i-th with the
// arguments args(i), and returns once the stream has acknowledged every
// one, failing tb if any is not stored within a minute.
func storeAll(tb testing.TB, op Operator, event string, n int, args func(i int) []byte) {
	tb.Helper()
	stored := make(chan error, n)
	for i := range n {
		if err := op.EmitRaw(event, args(i), nil, func(err error) { stored <- err }); err != nil {
			tb.Fatal(err)
		}
	}
	deadline := time.After(time.Minute)
	for i := range n {
		select {
		case err := <-stored:
			if err != nil {
				tb.Fatalf("event not stored: %v", err)
			}
		case <-deadline:
			tb.Fatalf("%d of %d %q events acknowledged within a minute", i, n, event)
		}
	}
}

// startIO serves a Socket.IO server on 127.0.0.1:0 over a fresh bus.
func startIO(t testing.TB, cfg Config) (*Server, *bus.Bus, string) {
	t.Helper()
	b := testutil.StartBus(t, bus.Config{})
	srv := NewServer(b, cfg)
	return srv, b, "http://" + testutil.Serve(t, srv, srv.Close)
}

func TestConnectReplyAndInvalidNamespace(t *testing.T) {
	_, _, url := startIO(t, Config{})
	c := siotest.Dial(t, url, "/socket.io/")
	id := c.ConnectID(t, "/", "")
	if id == c.SID || len(id) != 20 {
		t.Fatalf("socket id %q must be new (engine sid %q) and 20 chars", id, c.SID)
	}
	if got := c.Connect(t, "/nope", ""); got != `4/nope,{"message":"Invalid namespace"}` {
		t.Fatalf("unknown namespace reply %q", got)
	}
}

func TestMiddlewareRefusalCarriesData(t *testing.T) {
	srv, _, url := startIO(t, Config{})
	srv.Of("/private").Use(func(s *Socket) error {
		var auth struct{ Token string }
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		if auth.Token != "secret" {
			return &wsedge.ConnectError{Message: "unauthorized", Data: map[string]any{"retry": false}}
		}
		return nil
	})
	c := siotest.Dial(t, url, "/socket.io/")
	if got := c.Connect(t, "/private", `{"token":"wrong"}`); got != `4/private,{"data":{"retry":false},"message":"unauthorized"}` {
		t.Fatalf("refusal = %q", got)
	}
	if got := c.Connect(t, "/private", `{"token":"secret"}`); !strings.HasPrefix(got, `0/private,{"sid":`) {
		t.Fatalf("accepted connect = %q", got)
	}
}

func TestDynamicNamespaces(t *testing.T) {
	srv, _, url := startIO(t, Config{})
	joined := make(chan string, 4)
	srv.OfFunc(func(name string, _ json.RawMessage) bool { return strings.HasPrefix(name, "/team-") }).
		OnConnection(func(s *Socket) { joined <- s.Namespace().Name() })
	c := siotest.Dial(t, url, "/socket.io/")
	c.ConnectID(t, "/team-a", "")
	if got := <-joined; got != "/team-a" {
		t.Fatalf("child namespace %q", got)
	}
	if got := c.Connect(t, "/other", ""); !strings.HasPrefix(got, "4/other,") {
		t.Fatalf("unmatched namespace accepted: %q", got)
	}
}

// roomsApp: sockets join the rooms listed in auth; "say" emits per the
// event's first argument: {"to":[rooms],"except":[rooms],"broadcast":bool}.
func roomsApp(srv *Server) {
	srv.Of("/r").OnConnection(func(s *Socket) {
		var auth struct{ Rooms []string }
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		if err := s.Join(auth.Rooms...); err != nil {
			panic(err)
		}
		s.On("say", func(e *Event) {
			var spec struct {
				To, Except []string
				Broadcast  bool
				Text       string
			}
			if err := e.Arg(0, &spec); err != nil {
				panic(err)
			}
			o := s.Namespace().To(spec.To...).Except(spec.Except...)
			if spec.Broadcast {
				o = s.Broadcast().To(spec.To...).Except(spec.Except...)
			}
			if err := o.Emit("said", spec.Text); err != nil {
				panic(err)
			}
			_ = e.Ack()
		})
	})
}

func TestRoomsExceptAndBroadcast(t *testing.T) {
	srv, _, url := startIO(t, Config{})
	roomsApp(srv)
	// a in {x}, b in {x,y}, c in {y}, d in {a.>} (a hostile name), e in none.
	rooms := map[string]string{"a": `["x"]`, "b": `["x","y"]`, "c": `["y"]`, "d": `["a.>"]`, "e": `[]`}
	cl := map[string]*siotest.Client{}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		cl[n] = siotest.Dial(t, url, "/socket.io/")
		cl[n].ConnectID(t, "/r", `{"rooms":`+rooms[n]+`}`)
	}
	say := func(from, spec string) {
		cl[from].Send(t, siotest.Event("/r", 1, "say", spec))
	}
	cases := []struct {
		from, spec string
		want       string // clients that get it
	}{
		{"e", `{"to":["x"],"text":"1"}`, "ab"},
		{"e", `{"to":["x","y"],"text":"2"}`, "abc"}, // b once, though in both rooms
		{"e", `{"to":["x","y"],"except":["y"],"text":"3"}`, "a"},
		{"e", `{"text":"4"}`, "abcde"},
		{"a", `{"broadcast":true,"text":"5"}`, "bcde"},
		{"b", `{"broadcast":true,"to":["x"],"text":"6"}`, "a"},
		{"e", `{"to":["a"],"text":"7"}`, ""},    // no room "a": "a.>" must not match
		{"e", `{"to":["a.>"],"text":"8"}`, "d"}, // the hostile name is just a name
		{"e", `{"to":["a.*"],"text":"9"}`, ""},  // nor does a wildcard reach it
		{"e", `{"except":["x","a.>"],"text":"10"}`, "ce"},
	}
	got := map[string][]string{} // client → texts received, in order
	record := func(n, p string) {
		var args []string
		if err := json.Unmarshal([]byte(strings.TrimPrefix(p, "2/r,")), &args); err != nil || args[0] != "said" {
			t.Fatalf("client %s got %q", n, p)
		}
		got[n] = append(got[n], args[1])
	}
	for _, tc := range cases {
		say(tc.from, tc.spec)
		// The ack to the sender comes once the emit is on the bus.
		for {
			p := cl[tc.from].NextText(t, wait)
			if strings.HasPrefix(p, "3/r,1") {
				break
			}
			record(tc.from, p)
		}
	}
	// A final marker to everyone: after it, each client has all it will get.
	say("e", `{"text":"end"}`)
	for n, c := range cl {
		for {
			p := c.NextText(t, wait)
			if strings.HasPrefix(p, "3/r,1") {
				continue
			}
			record(n, p)
			if p == `2/r,["said","end"]` {
				break
			}
		}
	}
	for n := range cl {
		var want []string
		for _, tc := range cases {
			if strings.Contains(tc.want, n) {
				var spec struct{ Text string }
				_ = json.Unmarshal([]byte(tc.spec), &spec)
				want = append(want, spec.Text)
			}
		}
		want = append(want, "end")
		if strings.Join(got[n], " ") != strings.Join(want, " ") {
			t.Errorf("client %s got %v, want %v", n, got[n], want)
		}
	}
}

func TestEmitWithAckFromServer(t *testing.T) {
	srv, _, url := startIO(t, Config{})
	got := make(chan string, 1)
	srv.Of("/").OnConnection(func(s *Socket) {
		go func() {
			args, _, err := s.EmitWithAckTimeout(wait, "ping", 1)
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			got <- string(args)
		}()
	})
	c := siotest.Dial(t, url, "/socket.io/")
	c.ConnectID(t, "/", "")
	p := c.NextText(t, wait)
	if p != `20["ping",1]` {
		t.Fatalf("server ack emit = %q", p)
	}
	c.Send(t, `30["pong",{"ok":true}]`)
	if r := <-got; r != `["pong",{"ok":true}]` {
		t.Fatalf("ack args = %q", r)
	}
}

func TestBackendPublishReachesOneSocket(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{NATSAddr: "127.0.0.1:0"}) // for the backend
	srv := NewServer(b, Config{})
	url := "http://" + testutil.Serve(t, srv, srv.Close)
	backend := natstest.Connect(t, b.ClientURL())
	c1, c2 := siotest.Dial(t, url, "/socket.io/"), siotest.Dial(t, url, "/socket.io/")
	id1 := c1.ConnectID(t, "/", "")
	c2.ConnectID(t, "/", "")
	if err := backend.Publish("sockbus.io.~.sock."+id1+".direct", []byte(`["only you"]`)); err != nil {
		t.Fatal(err)
	}
	if err := backend.Publish("sockbus.io.~.all.everyone", []byte(`[1]`)); err != nil {
		t.Fatal(err)
	}
	if p := c1.NextText(t, wait); p != `2["direct","only you"]` {
		t.Fatalf("c1 got %q", p)
	}
	if p := c1.NextText(t, wait); p != `2["everyone",1]` {
		t.Fatalf("c1 got %q", p)
	}
	if p := c2.NextText(t, wait); p != `2["everyone",1]` {
		t.Fatalf("c2 got %q, want only the broadcast", p)
	}
}

func TestProtocolErrorsCloseOnlyThatConnection(t *testing.T) {
	_, _, url := startIO(t, Config{})
	good := siotest.Dial(t, url, "/socket.io/")
	good.ConnectID(t, "/", "")
	for _, bad := range []string{`2/notjoined,["x"]`, `2["connect"]`, `9`, `2["x"`, `0/,`, `51-["x",{"_placeholder":true,"num":3}]`} {
		c := siotest.Dial(t, url, "/socket.io/")
		c.ConnectID(t, "/", "")
		c.Send(t, bad)
		select {
		case <-c.WS.Closed():
		case <-time.After(wait):
			t.Fatalf("%q did not close the connection", bad)
		}
	}
	good.Emit(t, "/", "still", "1")
	good.Quiet(t, 100*time.Millisecond) // no relay here: nothing comes back, and nothing broke
	if !strings.HasPrefix(good.Connect(t, "/second", ""), "4/second,") {
		t.Fatal("server stopped answering")
	}
}

// Events, acks and attachments run on the read loop; namespace CONNECT and
// DISCONNECT (deep set-up work) are handed off, so idle connections keep a
// small read-loop stack.
func TestInlinePacketChoice(t *testing.T) {
	for data, want := range map[string]bool{
		`0/chat,{"token":"x"}`: false,
		`1/chat,`:              false,
		`2["ev",1]`:            true,
		`3/chat,7[]`:           true,
		`51-["ev",{"_placeholder":true,"num":0}]`: true,
		`61-7[{"_placeholder":true,"num":0}]`:     true,
		`4{"message":"x"}`:                        false,
		``:                                        true,
	} {
		if got := inlinePacket([]byte(data), false); got != want {
			t.Errorf("inlinePacket(%q) = %v, want %v", data, got, want)
		}
	}
	if !inlinePacket([]byte{0, 1, 2}, true) {
		t.Error("a binary attachment was handed off")
	}
}

// A dynamic namespace is forgotten with its last local socket (and a
// refused or abandoned connect leaves nothing either); one that still has
// a socket stays.
func TestDynamicNamespacesAreForgottenWhenEmpty(t *testing.T) {
	srv, _, url := startIO(t, Config{})
	srv.OfFunc(func(name string, _ json.RawMessage) bool { return strings.HasPrefix(name, "/team-") }).
		Use(func(s *Socket) error {
			if strings.HasSuffix(s.Namespace().Name(), "-refused") {
				return errors.New("no")
			}
			return nil
		})
	children := func() int {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.children)
	}
	c := siotest.Dial(t, url, "/socket.io/")
	c.ConnectID(t, "/team-stays", "")
	for i := range 300 {
		nsp := "/team-" + strconv.Itoa(i)
		c.ConnectID(t, nsp, "")
		c.Send(t, "1"+nsp+",")
	}
	if got := c.Connect(t, "/team-refused", ""); !strings.HasPrefix(got, "4/team-refused,") {
		t.Fatalf("refused connect: %q", got)
	}
	eventually.True(t, 5*time.Second, "only /team-stays to remain", func() bool { return children() == 1 })
	if srv.lookupChild("/team-stays") == nil {
		t.Fatal("the namespace with a socket was forgotten")
	}
	c.WS.Close()
	eventually.True(t, 5*time.Second, "every child to be forgotten", func() bool { return children() == 0 })
}

func (s *Server) lookupChild(name string) *Namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.children[name]
}

// A room named like a socket id (20 base64url characters) is a room: its
// members get what is sent to it. A socket id is a room too: its socket
// gets what is sent to it.
func TestRoomShapedLikeASocketID(t *testing.T) {
	srv, _, url := startIO(t, Config{})
	roomsApp(srv)
	const shaped = "abcdefghijklmnopqrst"
	member := siotest.Dial(t, url, "/socket.io/")
	member.ConnectID(t, "/r", `{"rooms":["`+shaped+`"]}`)
	other := siotest.Dial(t, url, "/socket.io/")
	otherID := other.ConnectID(t, "/r", `{"rooms":[]}`)
	sender := siotest.Dial(t, url, "/socket.io/")
	sender.ConnectID(t, "/r", `{"rooms":[]}`)
	next := func(c *siotest.Client) string {
		for {
			if p := c.NextText(t, 5*time.Second); strings.HasPrefix(p, "2/r,") {
				return p
			}
		}
	}
	sender.Send(t, siotest.Event("/r", 1, "say", `{"to":["`+shaped+`"],"text":"to the room"}`))
	if got := next(member); !strings.Contains(got, "to the room") {
		t.Fatalf("member of %s got %q", shaped, got)
	}
	sender.Send(t, siotest.Event("/r", 2, "say", `{"to":["`+otherID+`"],"text":"to the socket"}`))
	if got := next(other); !strings.Contains(got, "to the socket") {
		t.Fatalf("socket %s got %q", otherID, got)
	}
	sender.Send(t, siotest.Event("/r", 3, "say", `{"text":"marker"}`))
	if got := next(member); !strings.Contains(got, "marker") {
		t.Fatalf("the room's member got %q, want only the marker after its own message", got)
	}
}
