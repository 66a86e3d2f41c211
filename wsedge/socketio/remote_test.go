package socketio

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
)

func TestSocketOperationsFromTheServer(t *testing.T) {
	srv, _, url := startIO(t, Config{})
	ns := srv.Of("/")
	ns.OnConnection(func(s *Socket) {
		if strings.Contains(string(s.Handshake().Auth), "vip") {
			_ = s.Join("vip")
			s.Set("level", "gold")
		}
	})
	var cs []*siotest.Client
	var ids []string
	for i := range 3 {
		c := siotest.Dial(t, url, "/socket.io/")
		auth := `{"n":1}`
		if i == 0 {
			auth = `{"vip":true}`
		}
		ids = append(ids, c.ConnectID(t, "/", auth))
		cs = append(cs, c)
	}

	// Join, then an event to the new room: the join is applied first.
	if err := ns.To("vip", ids[1]).SocketsJoin("lounge"); err != nil {
		t.Fatal(err)
	}
	if err := ns.To("lounge").Emit("welcome", 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs[:2] {
		if p := c.NextText(t, wait); !strings.HasPrefix(p, `2["welcome",1`) {
			t.Fatalf("lounge member got %q", p)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	list, err := ns.In("lounge").FetchSockets(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("fetch lounge: %v %+v", err, list)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID == ids[0] })
	vip := list[0]
	if vip.ID != ids[0] || vip.Data["level"] != "gold" || string(vip.Auth) != `{"vip":true}` || vip.Address != "127.0.0.1" ||
		!strings.Contains(strings.Join(vip.Rooms, ","), "lounge") || vip.Rooms[0] != ids[0] {
		t.Fatalf("fetched vip = %+v", vip)
	}

	// An event, then a leave: the event still reaches the leaving socket.
	if err := ns.To("lounge").Emit("last", 3); err != nil {
		t.Fatal(err)
	}
	if err := ns.Except("vip").SocketsLeave("lounge"); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs[:2] {
		if p := c.NextText(t, wait); !strings.HasPrefix(p, `2["last",3`) {
			t.Fatalf("lounge member got %q", p)
		}
	}
	// A fetch is not ordered with stored operations: poll until applied.
	eventually.True(t, wait, "the leave applied", func() bool {
		list, err := ns.In("lounge").FetchSockets(ctx)
		return err == nil && len(list) == 1 && list[0].ID == ids[0]
	})

	// Disconnect everyone outside the lounge: a DISCONNECT packet each.
	if err := ns.Except("lounge").DisconnectSockets(false); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs[1:] {
		if p := c.NextText(t, wait); p != "1" {
			t.Fatalf("disconnected socket got %q", p)
		}
	}
	eventually.True(t, wait, "the disconnects applied", func() bool {
		list, err := ns.FetchSockets(ctx)
		return err == nil && len(list) == 1 && list[0].ID == ids[0]
	})

	// Nobody anywhere: an empty list at once.
	if list, err := srv.Of("/empty").FetchSockets(ctx); err != nil || len(list) != 0 {
		t.Fatalf("empty namespace: %v %+v", err, list)
	}
}
