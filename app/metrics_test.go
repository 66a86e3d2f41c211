package app

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/natstest"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/wstest"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// scrape reads a Prometheus text exposition into series → value
// (`name{labels}` exactly as exposed, or the bare name).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMetricsAfterRealTraffic drives Socket.IO and plain WebSocket clients,
// refuses an oversized frame on each and a bad UTF-8 frame, asks a client
// for an ack through the bus, then checks every metric name is exposed and
// the ones the traffic touched moved.
func TestMetricsAfterRealTraffic(t *testing.T) {
	s := startServer(t, withNATS, func(c *config) { c.MaxMessageBytes = 1024 })
	base := "http://" + s.addr
	url := base + "/metrics"

	// Socket.IO: two sockets, an event with an ack (relayed, stored, acked).
	a := siotest.Dial(t, base, "/socket.io/")
	b := siotest.Dial(t, base, "/socket.io/")
	a.ConnectID(t, "/", "")
	b.ConnectID(t, "/", "")
	a.Send(t, siotest.Event("/", 1, "chat", `"hi"`))
	if got := b.NextText(t, wait); !strings.Contains(got, `["chat","hi"`) {
		t.Fatalf("relay delivered %q", got)
	}
	if got := a.NextText(t, wait); got != "31[]" {
		t.Fatalf("store ack = %q, want 31[]", got)
	}
	// A broadcast with acks from a bus client: b answers its ack.
	nc := s.backend(t)
	inbox := nats.NewInbox()
	natstest.SubscribeSync(t, nc, inbox) // where the ack answers go
	req := &nats.Msg{Subject: "sockbus.live.io.~.all.ping", Reply: inbox, Data: []byte("[]"), Header: nats.Header{}}
	req.Header.Set(socketio.HeaderAckDeadline, strconv.FormatInt(time.Now().Add(wait).UnixMilli(), 10))
	if err := nc.PublishMsg(req); err != nil {
		t.Fatal(err)
	}
	for {
		got := b.NextText(t, wait)
		if id, ok := strings.CutSuffix(strings.TrimPrefix(got, "2"), `["ping"]`); ok && strings.HasPrefix(got, "2") {
			b.Send(t, "3"+id+`["pong"]`)
			break
		}
	}
	// A recovery that cannot be honoured: a fresh session, counted.
	c := siotest.Dial(t, base, "/socket.io/")
	c.ConnectID(t, "/", `{"pid":"nope","offset":"x.1"}`)
	// An oversized Socket.IO frame: that connection is cut with 1009.
	big := siotest.Dial(t, base, "/socket.io/")
	big.WS.SendText(t, "4"+strings.Repeat("x", 2048))
	if code, _ := big.WS.WaitClose(t, wait); code != 1009 {
		t.Fatalf("oversized Socket.IO frame closed with %d, want 1009", code)
	}

	// Plain WebSocket: a message relayed on a channel, an oversized and a
	// bad UTF-8 frame refused.
	w1 := wstest.Dial(t, s.ws("/ws/room"))
	w2 := wstest.Dial(t, s.ws("/ws/room"))
	w1.SendText(t, "hello")
	if got := w2.NextText(t, wait); got != "hello" {
		t.Fatalf("channel delivered %q", got)
	}
	wbig := wstest.Dial(t, s.ws("/ws/room"))
	wbig.SendBinary(t, make([]byte, 2048))
	if code, _ := wbig.WaitClose(t, wait); code != 1009 {
		t.Fatalf("oversized frame closed with %d, want 1009", code)
	}
	bad := wstest.Dial(t, s.ws("/ws/room"))
	if err := bad.Conn.WriteMessage(1, []byte{0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	if code, _ := bad.WaitClose(t, wait); code != 1007 {
		t.Fatalf("bad UTF-8 closed with %d, want 1007", code)
	}

	// Counters move on goroutines of their own (acks, closes): poll.
	var m map[string]float64
	moved := map[string]func(float64) bool{
		`sockbus_connections{kind="socketio",transport="websocket"}`:    func(v float64) bool { return v >= 3 },
		`sockbus_connections{kind="websocket",transport="websocket"}`:   func(v float64) bool { return v >= 2 },
		`sockbus_sockets{transport="websocket"}`:                        func(v float64) bool { return v >= 3 },
		`sockbus_namespaces`:                                            func(v float64) bool { return v >= 1 },
		`sockbus_channels`:                                              func(v float64) bool { return v >= 1 },
		`sockbus_events_in_total{kind="socketio"}`:                      func(v float64) bool { return v == 1 },
		`sockbus_events_in_total{kind="websocket"}`:                     func(v float64) bool { return v >= 1 },
		`sockbus_bytes_in_total{kind="socketio"}`:                       func(v float64) bool { return v > 0 },
		`sockbus_events_out_total{kind="socketio"}`:                     func(v float64) bool { return v >= 1 },
		`sockbus_events_out_total{kind="websocket"}`:                    func(v float64) bool { return v >= 1 },
		`sockbus_deliveries_total{kind="socketio"}`:                     func(v float64) bool { return v >= 1 },
		`sockbus_deliveries_total{kind="websocket"}`:                    func(v float64) bool { return v >= 2 },
		`sockbus_bytes_out_total{kind="websocket"}`:                     func(v float64) bool { return v >= 10 },
		`sockbus_refusals_total{reason="oversize"}`:                     func(v float64) bool { return v == 2 },
		`sockbus_refusals_total{reason="bad_utf8"}`:                     func(v float64) bool { return v == 1 },
		`sockbus_disconnects_total{kind="socketio",reason="oversize"}`:  func(v float64) bool { return v == 1 },
		`sockbus_disconnects_total{kind="websocket",reason="oversize"}`: func(v float64) bool { return v == 1 },
		`sockbus_disconnects_total{kind="websocket",reason="bad_utf8"}`: func(v float64) bool { return v == 1 },
		`sockbus_recoveries_total{outcome="fresh_bad_offset"}`:          func(v float64) bool { return v == 1 },
		`sockbus_store_latency_seconds_count`:                           func(v float64) bool { return v >= 1 },
		`sockbus_ack_latency_seconds_count`:                             func(v float64) bool { return v >= 1 },
		`sockbus_jetstream_store_bytes`:                                 func(v float64) bool { return v > 0 },
	}
	if !eventually.Within(wait, func() bool {
		m = scrape(t, url)
		for name, ok := range moved {
			if v, found := m[name]; !found || !ok(v) {
				return false
			}
		}
		return true
	}) {
		for name, ok := range moved {
			if v, found := m[name]; !found || !ok(v) {
				t.Errorf("%s = %v (exposed: %v)", name, v, found)
			}
		}
		t.FailNow()
	}
	// Every label value exists from the start, at zero when nothing happened.
	for _, name := range []string{
		`sockbus_connections{kind="socketio",transport="polling"}`,
		`sockbus_sockets{transport="polling"}`,
		`sockbus_rooms`,
		`sockbus_refusals_total{reason="slow_consumer"}`,
		`sockbus_refusals_total{reason="origin"}`,
		`sockbus_refusals_total{reason="auth"}`,
		`sockbus_refusals_total{reason="rate_limit"}`,
		`sockbus_refusals_total{reason="ping_timeout"}`,
		`sockbus_recoveries_total{outcome="recovered"}`,
		`sockbus_recoveries_total{outcome="fresh_no_session"}`,
		`sockbus_recoveries_total{outcome="fresh_history_gone"}`,
		`sockbus_bus_publish_errors_total`,
		`sockbus_cluster_peers`,
		`sockbus_bus_disconnects_total`,
		`sockbus_ack_latency_seconds_bucket{le="0.005"}`,
		`go_goroutines`,
	} {
		if _, ok := m[name]; !ok {
			t.Errorf("%s not exposed", name)
		}
	}
	if m[`sockbus_refusals_total{reason="origin"}`] != 0 || m[`sockbus_cluster_peers`] != 0 || m[`sockbus_bus_disconnects_total`] != 0 {
		t.Errorf("untouched metrics moved: origin %v, peers %v", m[`sockbus_refusals_total{reason="origin"}`], m[`sockbus_cluster_peers`])
	}
	if v := m[`sockbus_ack_latency_seconds_bucket{le="+Inf"}`]; v != m[`sockbus_ack_latency_seconds_count`] {
		t.Errorf("ack latency +Inf bucket %v != count %v", v, m[`sockbus_ack_latency_seconds_count`])
	}

	// Closing the clients brings the live gauges down.
	for _, cl := range []*siotest.Client{a, b, c} {
		cl.WS.Close()
	}
	w1.Close()
	w2.Close()
	eventually.True(t, wait, "live gauges to fall to zero", func() bool {
		m = scrape(t, url)
		return m[`sockbus_connections{kind="socketio",transport="websocket"}`] == 0 &&
			m[`sockbus_connections{kind="websocket",transport="websocket"}`] == 0 &&
			m[`sockbus_sockets{transport="websocket"}`] == 0 && m[`sockbus_channels`] == 0 &&
			m[`sockbus_disconnects_total{kind="socketio",reason="client_close"}`] >= 3
	})
}

// TestMetricsAddrServesSeparately: with --metrics-addr, /metrics moves off
// the main listener.
func TestMetricsAddrServesSeparately(t *testing.T) {
	maddr := make(chan string, 1)
	s := startServer(t, func(c *config) {
		c.MetricsAddr = "127.0.0.1:0"
		c.onMetricsListen = func(addr string) { maddr <- addr }
	})
	m := scrape(t, "http://"+<-maddr+"/metrics")
	if _, ok := m[`sockbus_namespaces`]; !ok {
		t.Fatal("sockbus_namespaces not exposed on --metrics-addr")
	}
	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics on --addr = %d with --metrics-addr set, want 404", resp.StatusCode)
	}
}

// TestMetricsCountRateLimitsAndAuth: refusals other parts of the server
// make (a connect without a token, events over the rate) reach the counters.
func TestMetricsCountRateLimitsAndAuth(t *testing.T) {
	s := startServer(t, func(c *config) {
		c.RecoveryWindow = 0
		c.AuthJWTKey = testJWTSecret
		c.MaxEventsPerSecond, c.MaxEventBurst = 1, 1
	})
	base := "http://" + s.addr
	// No token: the Socket.IO CONNECT and the WebSocket upgrade are refused.
	c := siotest.Dial(t, base, "/socket.io/")
	if reply := c.Connect(t, "/", ""); !strings.HasPrefix(reply, "4") {
		t.Fatalf("CONNECT without a token = %q, want connect_error", reply)
	}
	if _, resp, err := wstest.TryDial(s.ws("/ws/lobby")); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("upgrade without a token: %v %v", resp, err)
	}
	// With a token, events over the rate: without acks the connection is
	// closed; a plain WebSocket gets 4029.
	token := signHS(t, testJWTSecret, aliceClaims(time.Now().Add(time.Hour)))
	a := siotest.Dial(t, base, "/socket.io/")
	a.ConnectID(t, "/", `{"token":"`+token+`"}`)
	for range 5 { // the server may close it before the last ones go out
		if a.WS.Conn.WriteMessage(gws.OpcodeText, []byte("4"+siotest.Event("/", -1, "spam", `"x"`))) != nil {
			break
		}
	}
	<-a.WS.Closed()
	w := wstest.Dial(t, s.ws("/ws/lobby?token="+token))
	for range 5 {
		if w.Conn.WriteMessage(gws.OpcodeText, []byte("x")) != nil {
			break
		}
	}
	if code, _ := w.WaitClose(t, wait); code != int(wsedge.CloseRateLimited) {
		t.Fatalf("WebSocket over the rate closed with %d", code)
	}
	want := map[string]float64{
		`sockbus_refusals_total{reason="auth"}`:                           2,
		`sockbus_refusals_total{reason="rate_limit"}`:                     2,
		`sockbus_disconnects_total{kind="socketio",reason="rate_limit"}`:  1,
		`sockbus_disconnects_total{kind="websocket",reason="rate_limit"}`: 1,
	}
	var m map[string]float64
	if !eventually.Within(wait, func() bool {
		m = scrape(t, base+"/metrics")
		for name, v := range want {
			if m[name] != v {
				return false
			}
		}
		return true
	}) {
		for name, v := range want {
			t.Errorf("%s = %v, want %v", name, m[name], v)
		}
	}
}
