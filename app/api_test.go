package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/wstest"
)

// The HTTP server API (httpapi, docs/http-api.md) against a running
// server, with a real HTTP client and real socket clients.

const testAPIKey = "test-key-0123456789abcdef"

func startAPIServer(t *testing.T, mutate ...func(*config)) *testServer {
	t.Helper()
	return startServer(t, append([]func(*config){withAPIKey}, mutate...)...)
}

// withAPIKey lets testAPIKey call the HTTP API.
func withAPIKey(c *config) { c.APIKey = []string{testAPIKey} }

// apiCall is one API request with key (none when ""), body and extra
// headers (name, value pairs); it returns the status and the body.
func apiCall(t *testing.T, base, method, path, key string, body string, headers ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, data
}

// wantAPI asserts the status, and for an error its {"error":...} shape.
func wantAPI(t *testing.T, status int, data []byte, want int) {
	t.Helper()
	if status != want {
		t.Fatalf("status %d (%s), want %d", status, data, want)
	}
	if want != http.StatusOK {
		var e struct{ Error string }
		if err := json.Unmarshal(data, &e); err != nil || e.Error == "" {
			t.Fatalf("error body %s is not {\"error\":...}", data)
		}
	}
}

func offsetOf(t *testing.T, data []byte) string {
	t.Helper()
	var r struct{ Offset *string }
	if err := json.Unmarshal(data, &r); err != nil || r.Offset == nil || *r.Offset == "" {
		t.Fatalf("answer %s has no offset", data)
	}
	return *r.Offset
}

// TestAPIRefusesBadCallers: no key, a wrong key, a wrong scheme (401); a
// body over --max-message-bytes (413, read no further), malformed JSON,
// unknown fields, missing fields (400); an unknown namespace or channel
// (404); no such endpoint (404), wrong method (405). Each answer is JSON
// {"error":...}, counted in /metrics; the server keeps serving.
func TestAPIRefusesBadCallers(t *testing.T) {
	s := startAPIServer(t, func(c *config) {
		c.MaxMessageBytes = 4096
		c.Namespaces = []string{"/", "/chat"}
		c.Channels = []string{"lobby"}
	})
	base := "http://" + s.addr
	emit := `{"namespace":"/chat","event":"news","args":[1]}`
	for _, tc := range []struct {
		name, method, path, key, body string
		headers                       []string
		want                          int
	}{
		{"no key", "POST", "/api/v1/emit", "", emit, nil, 401},
		{"wrong key", "POST", "/api/v1/emit", "test-key-0123456789abcdeX", emit, nil, 401},
		{"key prefix", "POST", "/api/v1/emit", testAPIKey[:20], emit, nil, 401},
		{"basic scheme", "POST", "/api/v1/emit", "", emit, []string{"Authorization", "Basic " + testAPIKey}, 401},
		{"huge body", "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/chat","event":"x","args":["` + strings.Repeat("a", 64<<10) + `"]}`, nil, 413},
		{"malformed json", "POST", "/api/v1/emit", testAPIKey, `{"namespace":`, nil, 400},
		{"two values", "POST", "/api/v1/emit", testAPIKey, emit + emit, nil, 400},
		{"unknown field", "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/chat","event":"x","room":"r"}`, nil, 400},
		{"args not array", "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/chat","event":"x","args":{"a":1}}`, nil, 400},
		{"no event", "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/chat"}`, nil, 400},
		{"reserved event", "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/chat","event":"connect"}`, nil, 400},
		{"long event", "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/chat","event":"` + strings.Repeat("e", 300) + `"}`, nil, 400},
		{"bad namespace", "POST", "/api/v1/emit", testAPIKey, `{"namespace":"chat","event":"x"}`, nil, 400},
		{"unknown namespace", "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/secret","event":"x"}`, nil, 404},
		{"unknown channel", "POST", "/api/v1/publish", testAPIKey, `{"channel":"secret","data":"x"}`, nil, 404},
		{"no data", "POST", "/api/v1/publish", testAPIKey, `{"channel":"lobby"}`, nil, 400},
		{"both data", "POST", "/api/v1/publish", testAPIKey, `{"channel":"lobby","data":"x","data_base64":"eA=="}`, nil, 400},
		{"bad base64", "POST", "/api/v1/publish", testAPIKey, `{"channel":"lobby","data_base64":"!!"}`, nil, 400},
		{"volatile idempotent", "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/chat","event":"x","volatile":true}`, []string{"Idempotency-Key", "k"}, 400},
		{"long idempotency key", "POST", "/api/v1/emit", testAPIKey, emit, []string{"Idempotency-Key", strings.Repeat("k", 300)}, 400},
		{"no endpoint", "POST", "/api/v1/nothing", testAPIKey, emit, nil, 404},
		{"wrong method", "GET", "/api/v1/emit", testAPIKey, "", nil, 405},
		{"unknown namespace sockets", "GET", "/api/v1/sockets?namespace=/secret", testAPIKey, "", nil, 404},
		{"join without room", "POST", "/api/v1/join", testAPIKey, `{"namespace":"/chat","in":["a"]}`, nil, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, data := apiCall(t, base, tc.method, tc.path, tc.key, tc.body, tc.headers...)
			wantAPI(t, status, data, tc.want)
		})
	}
	// Still serving; the refusals are counted by endpoint and status.
	status, data := apiCall(t, base, "POST", "/api/v1/emit", testAPIKey, emit)
	wantAPI(t, status, data, 200)
	metrics := scrape(t, base+"/metrics")
	for series, want := range map[string]float64{
		`sockbus_api_requests_total{endpoint="emit",status="401"}`:    4,
		`sockbus_api_requests_total{endpoint="emit",status="413"}`:    1,
		`sockbus_api_requests_total{endpoint="emit",status="404"}`:    1,
		`sockbus_api_requests_total{endpoint="emit",status="200"}`:    1,
		`sockbus_api_requests_total{endpoint="publish",status="404"}`: 1,
		`sockbus_api_requests_total{endpoint="other",status="404"}`:   1,
		`sockbus_api_requests_total{endpoint="emit",status="405"}`:    1,
	} {
		if got := metrics[series]; got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// TestAPIRateLimitPerKey: a key past --api-requests-per-second gets 429
// (not another key), and the refusal is logged at warn once.
func TestAPIRateLimitPerKey(t *testing.T) {
	var logs lockedBuffer
	other := "other-key-0123456789abcdef"
	s := startAPIServer(t, func(c *config) {
		c.APIKey = []string{testAPIKey, other}
		c.APIRequestsPerSecond = 5
		c.logOut = &logs
	})
	base := "http://" + s.addr
	limited := 0
	for range 30 {
		status, data := apiCall(t, base, "GET", "/api/v1/sockets?namespace=/", testAPIKey, "")
		if status == http.StatusTooManyRequests {
			wantAPI(t, status, data, 429)
			limited++
		}
	}
	if limited < 20 {
		t.Fatalf("%d of 30 requests at once were limited, want at least 20 (rate 5/s, burst 5)", limited)
	}
	status, data := apiCall(t, base, "GET", "/api/v1/sockets?namespace=/", other, "")
	wantAPI(t, status, data, 200)
	if n := strings.Count(logs.String(), "http api request refused"); n != 1 {
		t.Fatalf("refusals logged %d times, want once (rate-limited):\n%s", n, logs.String())
	}
}

// TestAPIEmitReachesSockets: an emit to the namespace, to rooms minus
// except, reaches exactly the sockets targeted (siotest clients), with
// the answer's offset as the event's last argument; a volatile emit
// answers a null offset.
func TestAPIEmitReachesSockets(t *testing.T) {
	s := startAPIServer(t)
	base := "http://" + s.addr
	a := siotest.Dial(t, base, "/socket.io/")
	aID := a.ConnectID(t, "/chat", "")
	b := siotest.Dial(t, base, "/socket.io/")
	bID := b.ConnectID(t, "/chat", "")

	status, data := apiCall(t, base, "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/chat","event":"news","args":["hi",{"n":1}]}`)
	wantAPI(t, status, data, 200)
	off := offsetOf(t, data)
	want := `2/chat,["news","hi",{"n":1},"` + off + `"]`
	for _, c := range []*siotest.Client{a, b} {
		if got := c.NextText(t, wait); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	// To a and b's socket-id rooms, except b: only a.
	status, data = apiCall(t, base, "POST", "/api/v1/emit", testAPIKey,
		`{"namespace":"/chat","event":"dm","args":[],"rooms":["`+aID+`","`+bID+`"],"except":["`+bID+`"]}`)
	wantAPI(t, status, data, 200)
	if got := a.NextText(t, wait); !strings.HasPrefix(got, `2/chat,["dm",`) {
		t.Fatalf("a got %s", got)
	}
	// Volatile: null offset, delivered without one.
	status, data = apiCall(t, base, "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/chat","event":"tick","volatile":true}`)
	wantAPI(t, status, data, 200)
	if string(bytes.TrimSpace(data)) != `{"offset":null}` {
		t.Fatalf("volatile answered %s", data)
	}
	for _, c := range []*siotest.Client{a, b} {
		if got := c.NextText(t, wait); got != `2/chat,["tick"]` {
			t.Fatalf("got %s after a volatile emit (b must not have had the dm)", got)
		}
	}
}

// TestAPIPublishReachesChannel: text and binary frames to a plain
// WebSocket channel, each answered with its offset.
func TestAPIPublishReachesChannel(t *testing.T) {
	s := startAPIServer(t)
	base := "http://" + s.addr
	c := wstest.Dial(t, s.ws("/ws/lobby"))
	status, data := apiCall(t, base, "POST", "/api/v1/publish", testAPIKey, `{"channel":"lobby","data":"hello"}`)
	wantAPI(t, status, data, 200)
	offsetOf(t, data)
	if got := c.NextText(t, wait); got != "hello" {
		t.Fatalf("got %q", got)
	}
	status, data = apiCall(t, base, "POST", "/api/v1/publish", testAPIKey, `{"channel":"lobby","data_base64":"AAEC/w=="}`)
	wantAPI(t, status, data, 200)
	if m := c.Next(t, wait); !m.Binary || !bytes.Equal(m.Data, []byte{0, 1, 2, 255}) {
		t.Fatalf("got %+v, want a binary frame 00 01 02 ff", m)
	}
}

// TestAPIIdempotentRetryStoresOnce: a call retried with one
// Idempotency-Key is stored once and answered the same offset (the
// history holds it once, the client gets it once); another key, or the same
// Idempotency-Key with another API key, stores anew.
func TestAPIIdempotentRetryStoresOnce(t *testing.T) {
	other := "other-key-0123456789abcdef"
	s := startAPIServer(t, func(c *config) { c.APIKey = []string{testAPIKey, other} })
	base := "http://" + s.addr
	a := siotest.Dial(t, base, "/socket.io/")
	a.ConnectID(t, "/idem", "")
	body := `{"namespace":"/idem","event":"order","args":[42]}`
	var offsets []string
	for range 3 {
		status, data := apiCall(t, base, "POST", "/api/v1/emit", testAPIKey, body, "Idempotency-Key", "order-42")
		wantAPI(t, status, data, 200)
		offsets = append(offsets, offsetOf(t, data))
	}
	if offsets[1] != offsets[0] || offsets[2] != offsets[0] {
		t.Fatalf("retries answered %v, want one offset", offsets)
	}
	status, data := apiCall(t, base, "POST", "/api/v1/emit", testAPIKey, body, "Idempotency-Key", "order-43")
	wantAPI(t, status, data, 200)
	if offsetOf(t, data) == offsets[0] {
		t.Fatal("another Idempotency-Key answered the same offset")
	}
	status, data = apiCall(t, base, "POST", "/api/v1/emit", other, body, "Idempotency-Key", "order-42")
	wantAPI(t, status, data, 200)
	if offsetOf(t, data) == offsets[0] {
		t.Fatal("another API key's call was taken for a retry")
	}
	// The client got three events, not five.
	for range 3 {
		if got := a.NextText(t, wait); !strings.HasPrefix(got, `2/idem,["order",42,`) {
			t.Fatalf("got %s", got)
		}
	}
	a.Quiet(t, 300*time.Millisecond)
	// The stream holds three events of /idem.
	status, data = apiCall(t, base, "GET", "/api/v1/history?namespace=/idem", testAPIKey, "")
	wantAPI(t, status, data, 200)
	var page struct{ Events []struct{ Offset string } }
	if err := json.Unmarshal(data, &page); err != nil || len(page.Events) != 3 || page.Events[0].Offset != offsets[0] {
		t.Fatalf("history %s, want 3 events starting at %s", data, offsets[0])
	}

	// publish: the same for a channel.
	var pub []string
	for range 2 {
		status, data := apiCall(t, base, "POST", "/api/v1/publish", testAPIKey, `{"channel":"idem","data":"x"}`, "Idempotency-Key", "pub-1")
		wantAPI(t, status, data, 200)
		pub = append(pub, offsetOf(t, data))
	}
	if pub[0] != pub[1] {
		t.Fatalf("publish retries answered %v", pub)
	}
	status, data = apiCall(t, base, "GET", "/api/v1/history?channel=idem", testAPIKey, "")
	wantAPI(t, status, data, 200)
	if err := json.Unmarshal(data, &page); err != nil || len(page.Events) != 1 {
		t.Fatalf("channel history %s, want 1 event", data)
	}
}

// TestAPIOffOrOnItsOwnAddress: without --api-key /api/v1/ is not served;
// with --api-addr it is served there and not on --addr.
func TestAPIOffOrOnItsOwnAddress(t *testing.T) {
	off := startServer(t)
	resp, err := http.Post("http://"+off.addr+"/api/v1/emit", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("API off: status %d, want 404", resp.StatusCode)
	}
	apiAddr := make(chan string, 1)
	s := startAPIServer(t, func(c *config) {
		c.APIAddr = "127.0.0.1:0"
		c.onAPIListen = func(addr string) { apiAddr <- addr }
	})
	addr := <-apiAddr
	status, data := apiCall(t, "http://"+addr, "POST", "/api/v1/emit", testAPIKey, `{"event":"x"}`)
	wantAPI(t, status, data, 200)
	resp, err = http.Post("http://"+s.addr+"/api/v1/emit", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("API on --api-addr answered on --addr: %d", resp.StatusCode)
	}
}

// TestAPISocketOperations: join, leave and disconnect act on the targeted
// sockets in order with the emits around them (an emit to the room right
// after a join reaches the socket just joined), and GET sockets lists them
// as fetchSockets does.
func TestAPISocketOperations(t *testing.T) {
	s := startAPIServer(t)
	base := "http://" + s.addr
	a := siotest.Dial(t, base, "/socket.io/")
	aID := a.ConnectID(t, "/ops", "")
	b := siotest.Dial(t, base, "/socket.io/")
	bID := b.ConnectID(t, "/ops", "")
	call := func(path, body string) {
		t.Helper()
		status, data := apiCall(t, base, "POST", path, testAPIKey, body)
		wantAPI(t, status, data, 200)
		offsetOf(t, data)
	}
	call("/api/v1/join", `{"namespace":"/ops","in":["`+aID+`"],"room":"r"}`)
	call("/api/v1/emit", `{"namespace":"/ops","event":"in-r","rooms":["r"]}`)
	if got := a.NextText(t, wait); !strings.HasPrefix(got, `2/ops,["in-r"`) {
		t.Fatalf("a got %s, want the room's event right after the join", got)
	}

	var list []struct {
		ID    string
		Rooms []string
		User  *string
		Data  map[string]any
		Node  string
	}
	status, data := apiCall(t, base, "GET", "/api/v1/sockets?namespace=/ops&room=r", testAPIKey, "")
	wantAPI(t, status, data, 200)
	if err := json.Unmarshal(data, &list); err != nil || len(list) != 1 || list[0].ID != aID ||
		len(list[0].Rooms) != 2 || list[0].Rooms[1] != "r" || list[0].User != nil || list[0].Data == nil || list[0].Node == "" {
		t.Fatalf("sockets in r: %s", data)
	}
	if !strings.Contains(string(data), `"user":null`) || !strings.Contains(string(data), `"data":{}`) {
		t.Fatalf("sockets answer %s: want user null and data {}", data)
	}
	status, data = apiCall(t, base, "GET", "/api/v1/sockets?namespace=/ops", testAPIKey, "")
	wantAPI(t, status, data, 200)
	if err := json.Unmarshal(data, &list); err != nil || len(list) != 2 {
		t.Fatalf("sockets of /ops: %s", data)
	}

	call("/api/v1/leave", `{"namespace":"/ops","in":["r"],"room":"r"}`)
	call("/api/v1/emit", `{"namespace":"/ops","event":"in-r-again","rooms":["r"]}`)
	call("/api/v1/emit", `{"namespace":"/ops","event":"marker"}`)
	if got := a.NextText(t, wait); !strings.HasPrefix(got, `2/ops,["marker"`) {
		t.Fatalf("a got %s, want the marker (it left r before in-r-again)", got)
	}
	if got := b.NextText(t, wait); !strings.HasPrefix(got, `2/ops,["marker"`) {
		t.Fatalf("b got %s", got)
	}

	call("/api/v1/disconnect", `{"namespace":"/ops","in":["`+bID+`"]}`)
	if got := b.NextText(t, wait); got != "1/ops," {
		t.Fatalf("b got %s, want its DISCONNECT", got)
	}
	call("/api/v1/emit", `{"namespace":"/ops","event":"after"}`)
	if got := a.NextText(t, wait); !strings.HasPrefix(got, `2/ops,["after"`) {
		t.Fatalf("a got %s", got)
	}
}

// historyPage is GET history's answer.
type historyPage struct {
	Events []struct {
		Offset, Event, Time string
		Args                json.RawMessage
		Data                *string
	}
	Next *string
}

func getHistory(t *testing.T, base, query string, want int) historyPage {
	t.Helper()
	status, data := apiCall(t, base, "GET", "/api/v1/history?"+query, testAPIKey, "")
	wantAPI(t, status, data, want)
	var p historyPage
	if want == http.StatusOK {
		if err := json.Unmarshal(data, &p); err != nil {
			t.Fatalf("history %s: %v", data, err)
		}
	}
	return p
}

// TestAPIHistoryPages: stored events in order, paged by limit with next;
// socket operations are not events; since= starts at a time; an offset of
// another epoch is 410, a malformed one or a limit over 1000 400.
func TestAPIHistoryPages(t *testing.T) {
	s := startAPIServer(t)
	base := "http://" + s.addr
	start := time.Now().Add(-time.Second)
	var offsets []string
	for i := range 5 {
		status, data := apiCall(t, base, "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/hist","event":"e","args":[`+string(rune('0'+i))+`]}`)
		wantAPI(t, status, data, 200)
		offsets = append(offsets, offsetOf(t, data))
		if i == 2 {
			status, data := apiCall(t, base, "POST", "/api/v1/join", testAPIKey, `{"namespace":"/hist","room":"x"}`)
			wantAPI(t, status, data, 200)
		}
	}
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		q := "namespace=/hist&limit=2"
		if after != "" {
			q += "&after=" + after
		}
		p := getHistory(t, base, q, 200)
		if p.Next == nil {
			t.Fatal("page without next")
		}
		for _, e := range p.Events {
			if e.Event != "e" || e.Time == "" {
				t.Fatalf("event %+v", e)
			}
			if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
				t.Fatalf("time %q: %v", e.Time, err)
			}
			got = append(got, e.Offset+"="+string(e.Args))
		}
		if len(p.Events) == 0 {
			if *p.Next != after {
				t.Fatalf("an empty page's next %s, want %s (where it stood)", *p.Next, after)
			}
			break
		}
		if pages > 5 {
			t.Fatal("paging never ends")
		}
		after = *p.Next
	}
	var want []string
	for i, o := range offsets {
		want = append(want, o+"=["+string(rune('0'+i))+"]")
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("paged history\n%v\nwant\n%v", got, want)
	}

	if p := getHistory(t, base, "namespace=/hist&since="+start.UTC().Format(time.RFC3339Nano), 200); len(p.Events) != 5 || p.Events[0].Offset != offsets[0] {
		t.Fatalf("since before all: %d events", len(p.Events))
	}
	if p := getHistory(t, base, "namespace=/hist&since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), 200); len(p.Events) != 0 || p.Next != nil {
		t.Fatalf("since the future: %+v", p)
	}
	epoch, _, _ := strings.Cut(offsets[0], ".")
	other := "000000000000.1"
	if epoch == "000000000000" {
		other = "111111111111.1"
	}
	getHistory(t, base, "namespace=/hist&after="+other, http.StatusGone)
	getHistory(t, base, "namespace=/hist&after="+epoch+".999999", http.StatusGone) // past the stream's end
	getHistory(t, base, "namespace=/hist&after=nonsense", http.StatusBadRequest)
	getHistory(t, base, "namespace=/hist&limit=1001", http.StatusBadRequest)
	getHistory(t, base, "namespace=/hist&after="+offsets[0]+"&since=2026-01-01T00:00:00Z", http.StatusBadRequest)
	getHistory(t, base, "namespace=/hist&channel=x", http.StatusBadRequest)

	// A channel: text and binary.
	apiCall(t, base, "POST", "/api/v1/publish", testAPIKey, `{"channel":"h","data":"t"}`)
	apiCall(t, base, "POST", "/api/v1/publish", testAPIKey, `{"channel":"h","data_base64":"AAE="}`)
	status, data := apiCall(t, base, "GET", "/api/v1/history?channel=h", testAPIKey, "")
	wantAPI(t, status, data, 200)
	if !strings.Contains(string(data), `"data":"t"`) || !strings.Contains(string(data), `"data_base64":"AAE="`) {
		t.Fatalf("channel history %s", data)
	}
}

// TestAPISlowBodyIsCut: a body that does not arrive within
// --http-body-timeout is answered 400 and holds nothing longer.
func TestAPISlowBodyIsCut(t *testing.T) {
	s := startAPIServer(t, func(c *config) { c.HTTPBodyTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /api/v1/emit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{\"namespace\":", testAPIKey)
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || time.Since(start) > 3*time.Second {
		t.Fatalf("slow body: status %d after %v, want 400 after the body timeout", resp.StatusCode, time.Since(start))
	}
}

// TestAPIAcrossNodes: three clustered nodes. GET sockets on one node lists
// the sockets of the others (each with its node); a join sent to one node
// applies to a socket on another before an emit sent to a third; an
// Idempotency-Key retried on another node is stored once (the dedupe is
// the stream's, not the node's).
func TestAPIAcrossNodes(t *testing.T) {
	var base []string
	for _, s := range startCluster(t, 3, withAPIKey) {
		base = append(base, "http://"+s.addr)
	}
	x := siotest.Dial(t, base[0], "/socket.io/")
	xID := x.ConnectID(t, "/c", "")
	y := siotest.Dial(t, base[1], "/socket.io/")
	yID := y.ConnectID(t, "/c", "")

	var list []struct{ ID, Node string }
	if !eventually.Within(10*time.Second, func() bool {
		status, data := apiCall(t, base[2], "GET", "/api/v1/sockets?namespace=/c", testAPIKey, "")
		return status == 200 && json.Unmarshal(data, &list) == nil && len(list) == 2
	}) {
		t.Fatalf("node 2 never listed both sockets: %+v", list)
	}
	nodes := map[string]string{}
	for _, s := range list {
		nodes[s.ID] = s.Node
	}
	if nodes[xID] == "" || nodes[yID] == "" || nodes[xID] == nodes[yID] {
		t.Fatalf("sockets %+v: want x and y each with its own node", list)
	}

	status, data := apiCall(t, base[2], "POST", "/api/v1/join", testAPIKey, `{"namespace":"/c","in":["`+xID+`"],"room":"r"}`)
	wantAPI(t, status, data, 200)
	status, data = apiCall(t, base[1], "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/c","event":"to-r","rooms":["r"]}`)
	wantAPI(t, status, data, 200)
	if got := x.NextText(t, wait); !strings.HasPrefix(got, `2/c,["to-r"`) {
		t.Fatalf("x got %s, want the room's event after the join from another node", got)
	}

	var offsets []string
	for _, b := range base[:2] {
		status, data := apiCall(t, b, "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/c","event":"once"}`, "Idempotency-Key", "across")
		wantAPI(t, status, data, 200)
		offsets = append(offsets, offsetOf(t, data))
	}
	if offsets[0] != offsets[1] {
		t.Fatalf("a retry on another node answered %v", offsets)
	}
	status, data = apiCall(t, base[0], "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/c","event":"marker"}`)
	wantAPI(t, status, data, 200)
	for _, c := range []*siotest.Client{x, y} {
		if got := c.NextText(t, wait); !strings.HasPrefix(got, `2/c,["once"`) {
			t.Fatalf("got %s, want once", got)
		}
		if got := c.NextText(t, wait); !strings.HasPrefix(got, `2/c,["marker"`) {
			t.Fatalf("got %s, want the marker (the retry was delivered twice)", got)
		}
	}
}

// TestAPIEmitReachesSocketIOClient: the official socket.io-client (npm)
// gets an API emit once, with the answer's offset as its last argument,
// and an Idempotency-Key retry does not reach it again.
func TestAPIEmitReachesSocketIOClient(t *testing.T) {
	node := needNode(t)
	s := startAPIServer(t)
	base := "http://" + s.addr
	script := `
const { io } = require(process.cwd() + '/node_modules/socket.io-client');
const s = io(process.env.URL + '/chat');
s.on('connect', () => console.log('ready'));
s.onAny((ev, ...args) => { console.log(JSON.stringify([ev, ...args])); if (ev === 'done') { s.close(); process.exit(0); } });
setTimeout(() => process.exit(2), 20000);`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "-e", script)
	cmd.Env = append(os.Environ(), "URL="+base)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	lines := bufio.NewScanner(out)
	next := func() string {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("socket.io-client ended: %v", lines.Err())
		}
		return lines.Text()
	}
	if got := next(); got != "ready" {
		t.Fatalf("client said %q", got)
	}
	var offsets []string
	for range 2 {
		status, data := apiCall(t, base, "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/chat","event":"news","args":["hi",{"n":1}]}`, "Idempotency-Key", "news-1")
		wantAPI(t, status, data, 200)
		offsets = append(offsets, offsetOf(t, data))
	}
	status, data := apiCall(t, base, "POST", "/api/v1/emit", testAPIKey, `{"namespace":"/chat","event":"done"}`)
	wantAPI(t, status, data, 200)
	done := offsetOf(t, data)
	if want := `["news","hi",{"n":1},"` + offsets[0] + `"]`; offsets[1] != offsets[0] || next() != want {
		t.Fatalf("offsets %v; want the client to get %s", offsets, want)
	}
	if got, want := next(), `["done","`+done+`"]`; got != want {
		t.Fatalf("client got %s, want %s (the retry once only)", got, want)
	}
}
