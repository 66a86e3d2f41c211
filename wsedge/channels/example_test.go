package channels_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/lxzan/gws"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/wsedge/channels"
)

// Plain WebSocket channels: every frame a client sends goes to every
// connection of its channel, the sender included.
func Example() {
	dir, _ := os.MkdirTemp("", "wsedge-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	b, err := bus.Start(ctx, bus.Config{DataDir: dir})
	if err != nil {
		panic(err)
	}
	defer b.Close(ctx)
	channels := channels.New(b, channels.Config{})
	defer channels.Close(ctx)
	srv := httptest.NewServer(channels) // or http.Handle("/ws/", channels)
	defer srv.Close()
	lobby := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/lobby"

	bob := wsDial(lobby)
	defer bob.close()
	bob.conn.WriteString("bob here")
	fmt.Println("bob got:", <-bob.in) // his own message: he is in the channel
	alice := wsDial(lobby)
	defer alice.close()
	alice.conn.WriteString("hello")
	fmt.Println("alice got:", <-alice.in)
	fmt.Println("bob got:", <-bob.in)
	// Output:
	// bob got: bob here
	// alice got: hello
	// bob got: hello
}

// wsClient is a gws client that hands text messages to a channel.
type wsClient struct {
	gws.BuiltinEventHandler
	conn *gws.Conn
	in   chan string
	done chan struct{}
}

func wsDial(url string) *wsClient {
	c := &wsClient{in: make(chan string, 16), done: make(chan struct{})}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: url})
	if err != nil {
		panic(err)
	}
	c.conn = conn
	go func() { defer close(c.done); conn.ReadLoop() }()
	return c
}

func (c *wsClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	c.in <- m.Data.String()
}

func (c *wsClient) close() {
	c.conn.WriteClose(1000, nil)
	<-c.done
}
