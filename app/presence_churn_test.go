package app

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// TestPresenceClientChurn: on two nodes, a client joins and leaves ten
// rooms as fast as it can write (2,000 sockbus:join and sockbus:leave).
// The event budget and --max-rooms-per-socket refuse most of it; the
// answers of the other clients, on both nodes, stay right and come within
// a second while it churns; and once it is gone, nothing of it is left in
// any answer.
func TestPresenceClientChurn(t *testing.T) {
	const rate, rooms = 100, 4
	nodes := startCluster(t, 2, func(c *config) {
		c.PresenceTTL, c.PresenceEvents = 2*time.Second, true
		c.MaxEventsPerSecond, c.MaxEventBurst, c.MaxRoomsPerSocket = rate, rate, rooms
	})
	var victims []*siotest.Client
	var ids []string
	for _, n := range nodes {
		c := siotest.Dial(t, "http://"+n.addr, "/socket.io/")
		ids = append(ids, c.ConnectID(t, "/", ""))
		c.Send(t, siotest.Event("/", 1, socketio.JoinEvent, `"lobby"`))
		victims = append(victims, c)
	}
	slices.Sort(ids)
	ackID := 10
	lobbyRight := func(i int) bool {
		ackID++
		n, got := memberIDs(t, askPresence(t, victims[i], ackID, `"lobby"`, nil))
		return n == 2 && slices.Equal(got, ids)
	}
	for i := range victims {
		eventually.True(t, 10*time.Second, fmt.Sprintf("node %d lists both in lobby", i), func() bool { return lobbyRight(i) })
	}

	attacker := siotest.Dial(t, "http://"+nodes[0].addr, "/socket.io/")
	attacker.ConnectID(t, "/", "")
	const ops = 2000
	start := time.Now()
	for k := range ops {
		event := socketio.JoinEvent
		if (k/10)%2 == 1 {
			event = socketio.LeaveEvent
		}
		attacker.Send(t, siotest.Event("/", k, event, strconv.Quote(fmt.Sprintf("churn-%d", k%10))))
	}
	// While the server works through them: the others' answers, on both nodes.
	slowest := time.Duration(0)
	for round := range 10 {
		for i := range victims {
			asked := time.Now()
			if !lobbyRight(i) {
				t.Fatalf("round %d: node %d's answer for lobby is wrong during the churn", round, i)
			}
			slowest = max(slowest, time.Since(asked))
		}
	}
	ok, limited, full := 0, 0, 0
	for range ops {
		p := attacker.NextText(t, 10*time.Second)
		switch {
		case strings.Contains(p, `"ok":true`):
			ok++
		case strings.Contains(p, "rate limit exceeded"):
			limited++
		case strings.Contains(p, socketio.ErrAckTooManyRooms):
			full++
		default:
			t.Fatalf("attacker got %q", p)
		}
	}
	elapsed := time.Since(start)
	t.Logf("%d ops in %v: %d ok, %d over the event budget, %d over %d rooms; slowest other answer %v",
		ops, elapsed, ok, limited, full, rooms, slowest)
	if budget := rate + int(elapsed.Seconds()*rate) + 1; ok+full > budget || limited == 0 {
		t.Fatalf("%d ops taken, %d over the budget: want at most the burst plus the rate (%d)", ok+full, limited, budget)
	}
	if slowest > time.Second {
		t.Fatalf("another client's answer took %v during the churn, want within 1s", slowest)
	}

	attacker.WS.Close()
	for i := range victims {
		eventually.True(t, 10*time.Second, fmt.Sprintf("node %d: nothing of the attacker left", i), func() bool {
			ackID++
			if n, _ := memberIDs(t, askPresence(t, victims[i], ackID, `null`, nil)); n != 2 {
				return false
			}
			for r := range 10 {
				ackID++
				raw := askPresence(t, victims[i], ackID, strconv.Quote(fmt.Sprintf("churn-%d", r)), nil)
				var a struct{ Count int }
				if json.Unmarshal([]byte(raw), &a) != nil || a.Count != 0 {
					return false
				}
			}
			return true
		})
	}
}
