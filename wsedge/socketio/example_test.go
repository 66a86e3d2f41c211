package socketio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// A Socket.IO server in the shape of socket.io's: a namespace, a
// middleware, handlers, rooms, broadcasts and acks. Two clients speak
// Engine.IO long-polling to it, as socket.io-client does before upgrading.
func ExampleServer() {
	dir, _ := os.MkdirTemp("", "wsedge-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	b, err := bus.Start(ctx, bus.Config{DataDir: dir}) // an embedded NATS server with JetStream
	if err != nil {
		panic(err)
	}
	defer b.Close(ctx)

	io := socketio.NewServer(b, socketio.Config{})
	defer io.Close(ctx)
	chat := io.Of("/chat")
	chat.Use(func(s *socketio.Socket) error { // an error is the client's connect_error
		if string(s.Handshake().Auth) == "{}" {
			return &wsedge.ConnectError{Message: "unauthorized", Data: map[string]any{"retry": false}}
		}
		return nil
	})
	chat.OnConnection(func(s *socketio.Socket) {
		s.Join("lobby")
		s.On("message", func(e *socketio.Event) {
			s.Broadcast().EmitRaw("message", e.Args, e.Attachments, nil) // everyone else, arguments byte for byte
			s.To("lobby").Except("muted").Emit("seen", s.ID())
			e.Ack("ok")
		})
	})
	srv := httptest.NewServer(io) // or http.Handle("/socket.io/", io)
	defer srv.Close()

	stranger := dial(srv.URL)
	stranger.send(`40/chat,`) // CONNECT without auth
	fmt.Println("stranger:", stranger.next())

	bob, alice := dial(srv.URL), dial(srv.URL)
	bob.send(`40/chat,{"token":"b"}`)
	bob.next() // 40/chat,{"sid":"…"}
	alice.send(`40/chat,{"token":"a"}`)
	aliceID := socketID(alice.next())
	alice.send(`42/chat,1["message","hi"]`) // emit with ack id 1
	fmt.Println("alice:", alice.next())
	fmt.Println("bob:", bob.next())
	fmt.Println("bob:", strings.Replace(bob.next(), aliceID, "<alice's id>", 1))
	// Output:
	// stranger: 44/chat,{"data":{"retry":false},"message":"unauthorized"}
	// alice: 43/chat,1["ok"]
	// bob: 42/chat,["message","hi"]
	// bob: 42/chat,["seen","<alice's id>"]
}

// Operations on sockets wherever they are connected (every node of a
// cluster): make the sockets in room "a" join room "b", then list them.
// The observer hears every socket of this node join and leave rooms.
func ExampleOperator_SocketsJoin() {
	dir, _ := os.MkdirTemp("", "wsedge-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	b, err := bus.Start(ctx, bus.Config{DataDir: dir})
	if err != nil {
		panic(err)
	}
	defer b.Close(ctx)
	io := socketio.NewServer(b, socketio.Config{})
	defer io.Close(ctx)
	joined := make(chan string, 4)
	io.Observe(socketio.Observer{Joined: func(_ *socketio.Socket, room string) { joined <- room }})
	io.Of("/").OnConnection(func(s *socketio.Socket) { s.Join("a") })
	srv := httptest.NewServer(io)
	defer srv.Close()

	c := dial(srv.URL)
	c.send(`40`) // CONNECT to "/"
	c.next()
	fmt.Println("joined", <-joined)

	if err := io.Of("/").In("a").SocketsJoin("b"); err != nil { // applied in order with the namespace's events
		panic(err)
	}
	fmt.Println("joined", <-joined)
	sockets, err := io.Of("/").In("b").FetchSockets(ctx)
	if err != nil {
		panic(err)
	}
	for _, s := range sockets {
		rooms := slices.DeleteFunc(s.Rooms, func(r string) bool { return r == s.ID })
		slices.Sort(rooms) // a socket's rooms are a set: print them in one order
		fmt.Println("rooms besides its id:", rooms)
	}
	// Output:
	// joined a
	// joined b
	// rooms besides its id: [a b]
}

// The server asks one client and waits for its answer (socket.io's
// socket.timeout(ms).emitWithAck).
func ExampleSocket_EmitWithAck() {
	dir, _ := os.MkdirTemp("", "wsedge-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	b, err := bus.Start(ctx, bus.Config{DataDir: dir})
	if err != nil {
		panic(err)
	}
	defer b.Close(ctx)
	io := socketio.NewServer(b, socketio.Config{})
	defer io.Close(ctx)
	answers := make(chan string, 1)
	io.Of("/").OnConnection(func(s *socketio.Socket) {
		go func() { // handlers must not block: wait for the answer elsewhere
			args, _, err := s.EmitWithAckTimeout(5*time.Second, "question", "ready?")
			if err != nil {
				answers <- err.Error()
				return
			}
			answers <- string(args)
		}()
	})
	srv := httptest.NewServer(io)
	defer srv.Close()

	c := dial(srv.URL)
	c.send(`40`)
	c.next() // 40{"sid":"…"}
	asked := c.next()
	fmt.Println("client got:", asked)
	c.send(`43` + strings.TrimSuffix(strings.TrimPrefix(asked, "42"), `["question","ready?"]`) + `["yes"]`) // the ack, same id
	fmt.Println("server got:", <-answers)
	// Output:
	// client got: 420["question","ready?"]
	// server got: ["yes"]
}

// client is the least of an Engine.IO v4 long-polling client: it sends and
// shows Engine.IO messages ("4" and a Socket.IO packet) as they travel.
type client struct {
	url     string
	pending []string
}

var web = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func dial(base string) *client {
	c := &client{url: base + "/socket.io/?EIO=4&transport=polling"}
	var open struct{ Sid string }
	if err := json.Unmarshal([]byte(c.get()[0][1:]), &open); err != nil { // 0{"sid":…}
		panic(err)
	}
	c.url += "&sid=" + open.Sid
	return c
}

func (c *client) get() []string {
	res, err := web.Get(c.url)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		panic(err)
	}
	return strings.Split(string(body), "\x1e")
}

func (c *client) send(message string) { c.post(message) }

func (c *client) post(body string) {
	res, err := web.Post(c.url, "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	res.Body.Close()
}

// next returns the next message, polling for it (and answering pings).
func (c *client) next() string {
	for len(c.pending) == 0 {
		for _, p := range c.get() {
			switch {
			case p == "2": // ping
				c.post("3")
			case strings.HasPrefix(p, "4"):
				c.pending = append(c.pending, p)
			case p != "6": // noop
				panic("session ended: " + p)
			}
		}
	}
	p := c.pending[0]
	c.pending = c.pending[1:]
	return p
}

// socketID reads the sid of a CONNECT reply: 40/chat,{"sid":"…"}.
func socketID(connected string) string {
	var r struct{ Sid string }
	if err := json.Unmarshal([]byte(connected[strings.Index(connected, "{"):]), &r); err != nil {
		panic(err)
	}
	return r.Sid
}
