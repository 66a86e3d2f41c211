package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/wstest"
	"github.com/sockbus/sockbus/presence"
)

// apiPresence is GET /api/v1/presence?query on base: the status and,
// for a 200, the answer.
func apiPresence(t *testing.T, base, query string) (int, presence.Answer, []byte) {
	t.Helper()
	status, data := apiCall(t, base, "GET", "/api/v1/presence?"+query, testAPIKey, "")
	var a presence.Answer
	if status == http.StatusOK {
		if err := json.Unmarshal(data, &a); err != nil || a.Members == nil {
			t.Fatalf("presence answer %s: not {\"count\",\"members\":[...]} (%v)", data, err)
		}
	}
	return status, a, data
}

// socketPresence asks sockbus:presence of room (JSON: a string or null)
// from c's socket in nsp and returns the ack's answer.
func socketPresence(t *testing.T, c *siotest.Client, nsp string, id int, room string) string {
	t.Helper()
	c.Send(t, siotest.Event(nsp, id, "sockbus:presence", room))
	ack := fmt.Sprintf("3%s,%d[", nsp, id)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if p := c.NextText(t, 10*time.Second); strings.HasPrefix(p, ack) {
			return strings.TrimSuffix(strings.TrimPrefix(p, ack), "]")
		}
	}
	t.Fatalf("no ack %d", id)
	return ""
}

func answerIDs(a presence.Answer) []string {
	var ids []string
	for _, m := range a.Members {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestAPIPresenceAcrossNodes: three nodes; Socket.IO sockets of /chat on
// nodes 0 and 1 put in room r by the API, plain WebSocket connections of
// channel lobby on nodes 1 and 2. Node 2, which holds none of the
// sockets, answers GET presence with the true count and a list bounded
// at the configured 2, the same answer a socket's sockbus:presence gets;
// a socket that leaves is gone from the answer; the calls are counted in
// /metrics.
func TestAPIPresenceAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3, func(c *config) {
		c.APIKey = []string{testAPIKey}
		c.presenceMaxList = 2
	})
	var base []string
	for _, n := range nodes {
		base = append(base, "http://"+n.addr)
	}
	var clients []*siotest.Client
	var ids []string
	for _, b := range []string{base[0], base[0], base[1]} {
		c := siotest.Dial(t, b, "/socket.io/")
		ids = append(ids, c.ConnectID(t, "/chat", ""))
		clients = append(clients, c)
	}
	status, data := apiCall(t, base[2], "POST", "/api/v1/join", testAPIKey, `{"namespace":"/chat","in":["`+strings.Join(ids, `","`)+`"],"room":"r"}`)
	wantAPI(t, status, data, 200)
	wstest.Dial(t, "ws://"+nodes[1].addr+"/ws/lobby")
	lobby2 := wstest.Dial(t, "ws://"+nodes[2].addr+"/ws/lobby")

	for _, q := range []string{"namespace=/chat&room=r", "namespace=/chat"} {
		var a presence.Answer
		eventually.True(t, 10*time.Second, "node 2 counts 3 in "+q, func() bool {
			var status int
			status, a, _ = apiPresence(t, base[2], q)
			return status == 200 && a.Count == 3
		})
		if len(a.Members) != 2 {
			t.Fatalf("%s: %d members listed, want the bound 2 (count %d)", q, len(a.Members), a.Count)
		}
		for _, m := range a.Members {
			if !slices.Contains(ids, m.ID) || m.User != nil {
				t.Fatalf("%s: member %+v: want one of %v, user null", q, m, ids)
			}
		}
	}
	// The same answer as a socket's sockbus:presence, asked on node 0.
	_, viaAPI, _ := apiPresence(t, base[2], "namespace=/chat&room=r")
	n, viaSocket := memberIDs(t, socketPresence(t, clients[0], "/chat", 1, `"r"`))
	if n != viaAPI.Count || !slices.Equal(viaSocket, answerIDs(viaAPI)) {
		t.Fatalf("sockbus:presence says %d %v, the API %d %v", n, viaSocket, viaAPI.Count, answerIDs(viaAPI))
	}
	eventually.True(t, 10*time.Second, "node 0 counts the 2 connections of lobby", func() bool {
		status, a, _ := apiPresence(t, base[0], "channel=lobby")
		return status == 200 && a.Count == 2 && len(a.Members) == 2
	})

	clients[2].Send(t, "41/chat,") // leaves at once (a dropped transport stays up to the TTL: it may recover)
	lobby2.Close()
	eventually.True(t, 10*time.Second, "the closed socket and connection leave the answers", func() bool {
		_, r, _ := apiPresence(t, base[0], "namespace=/chat&room=r")
		_, l, _ := apiPresence(t, base[1], "channel=lobby")
		return r.Count == 2 && !slices.Contains(answerIDs(r), ids[2]) && l.Count == 1
	})
	if got := scrape(t, base[2]+"/metrics")[`sockbus_api_requests_total{endpoint="presence",status="200"}`]; got < 3 {
		t.Fatalf("node 2 counted %v presence requests answered 200, want at least 3", got)
	}
}

// TestAPIPresenceRefusesBadCallers: names that would be wildcards in a
// subject or key (a.>, *, >) are names like any other: they match
// nothing but themselves; malformed, oversized and unknown names, a room
// with a channel, a wrong key and the wrong method are refused with the
// other endpoints' statuses, counted; a server without presence says so
// with 503.
func TestAPIPresenceRefusesBadCallers(t *testing.T) {
	s := startAPIServer(t, func(c *config) {
		c.Namespaces = []string{"/", "/chat", "/a.*"}
		c.Channels = []string{"lobby", "lobby.*"}
	})
	base := "http://" + s.addr
	c := siotest.Dial(t, base, "/socket.io/")
	sid := c.ConnectID(t, "/chat", "")
	status, data := apiCall(t, base, "POST", "/api/v1/join", testAPIKey, `{"namespace":"/chat","in":["`+sid+`"],"room":"a.b"}`)
	wantAPI(t, status, data, 200)
	wstest.Dial(t, "ws://"+s.addr+"/ws/lobby.x")
	eventually.True(t, 10*time.Second, "the socket in a.b and the connection in lobby.x", func() bool {
		_, r, _ := apiPresence(t, base, "namespace=/chat&room=a.b")
		_, l, _ := apiPresence(t, base, "channel=lobby.x")
		return r.Count == 1 && l.Count == 1
	})
	for _, q := range []string{"namespace=/chat&room=a.>", "namespace=/chat&room=a.*", "namespace=/chat&room=>",
		"namespace=/chat&room=*", "namespace=/chat&room=a", "namespace=/a.>", "channel=lobby.>", "channel=lobby.*", "channel=lobby"} {
		v, err := url.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		status, a, data := apiPresence(t, base, v.Encode())
		if status != 200 || a.Count != 0 || len(a.Members) != 0 {
			t.Errorf("%s: %d %s, want 200 and nobody (a name, not a wildcard)", q, status, data)
		}
	}
	long := strings.Repeat("x", 300)
	huge := strings.Repeat("y", 6<<10)
	refusals := []struct {
		name, method, query, key string
		want                     int
	}{
		{"no key", "GET", "namespace=/chat", "", 401},
		{"wrong key", "GET", "namespace=/chat", "test-key-0123456789abcdeX", 401},
		{"wrong method", "POST", "namespace=/chat", testAPIKey, 405},
		{"neither", "GET", "room=r", testAPIKey, 400},
		{"both", "GET", "namespace=/chat&channel=lobby", testAPIKey, 400},
		{"room of a channel", "GET", "channel=lobby&room=r", testAPIKey, 400},
		{"namespace without slash", "GET", "namespace=chat", testAPIKey, 400},
		{"long namespace", "GET", "namespace=/" + long, testAPIKey, 400},
		{"long room", "GET", "namespace=/chat&room=" + long, testAPIKey, 400},
		{"huge room", "GET", "namespace=/chat&room=" + huge, testAPIKey, 400},
		{"long channel", "GET", "channel=lobby." + long, testAPIKey, 400},
		{"unknown namespace", "GET", "namespace=/secret", testAPIKey, 404},
		{"unknown channel", "GET", "channel=secret", testAPIKey, 404},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			status, data := apiCall(t, base, tc.method, "/api/v1/presence?"+tc.query, tc.key, "")
			wantAPI(t, status, data, tc.want)
		})
	}
	// Still serving; every refusal counted under presence.
	if status, a, data := apiPresence(t, base, "namespace=/chat&room=a.b"); status != 200 || a.Count != 1 || a.Members[0].ID != sid {
		t.Fatalf("after the refusals: %d %s, want %s in a.b", status, data, sid)
	}
	m := scrape(t, base+"/metrics")
	counted := map[int]float64{}
	for _, tc := range refusals {
		counted[tc.want]++
	}
	for st, want := range counted {
		series := fmt.Sprintf(`sockbus_api_requests_total{endpoint="presence",status="%d"}`, st)
		if got := m[series]; got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}

	off := startAPIServer(t, func(c *config) { c.PresenceTTL = 0 })
	for _, q := range []string{"namespace=/chat", "channel=lobby"} {
		status, data := apiCall(t, "http://"+off.addr, "GET", "/api/v1/presence?"+q, testAPIKey, "")
		wantAPI(t, status, data, http.StatusServiceUnavailable)
		if !strings.Contains(string(data), "presence is off") {
			t.Fatalf("%s without presence: %s, want it to say presence is off", q, data)
		}
	}
}
