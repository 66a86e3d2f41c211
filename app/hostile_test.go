package app

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	conf "github.com/sockbus/sockbus/config"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/wstest"
)

// TestHostileInput boots the real server (run) once per attack, tries the
// attack over loopback and asserts the server's answer, then checks that a
// bystander connected before the attack is still served and that what it
// sent is still stored. Add a row per attack; a row gets a fresh server
// configured by its mutate.
func TestHostileInput(t *testing.T) {
	attacks := []struct {
		name   string
		mutate func(*config)
		attack func(t *testing.T, s *testServer)
	}{
		{"websocket from a foreign origin is refused on /ws", nil, func(t *testing.T, s *testServer) {
			for origin, want := range map[string]int{
				"http://evil.example": http.StatusForbidden,
				"":                    http.StatusSwitchingProtocols, // not a browser
				"http://" + s.addr:    http.StatusSwitchingProtocols, // same origin
			} {
				if got := upgradeStatus(t, s.addr, "/ws/x", origin); got != want {
					t.Errorf("Origin %q on /ws: %d, want %d", origin, got, want)
				}
			}
		}},
		{"websocket from a foreign origin is refused on /socket.io/", func(c *config) {
			c.CORSOrigins = []string{"https://ok.example"}
		}, func(t *testing.T, s *testServer) {
			const path = "/socket.io/?EIO=4&transport=websocket"
			for origin, want := range map[string]int{
				"http://evil.example": http.StatusForbidden,
				"https://ok.example":  http.StatusSwitchingProtocols, // --allowed-origins
				"":                    http.StatusSwitchingProtocols,
			} {
				if got := upgradeStatus(t, s.addr, path, origin); got != want {
					t.Errorf("Origin %q on /socket.io/: %d, want %d", origin, got, want)
				}
			}
			if got := upgradeStatus(t, s.addr, "/ws/x", "https://ok.example"); got != http.StatusSwitchingProtocols {
				t.Errorf("an allowed origin on /ws: %d", got)
			}
		}},
		{"an idle keep-alive connection is closed", func(c *config) {
			c.HTTPIdleTimeout = 200 * time.Millisecond
		}, func(t *testing.T, s *testServer) {
			conn := dialTCP(t, s.addr)
			fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", s.addr)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			_ = conn.SetReadDeadline(time.Now().Add(wait))
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("idle connection: read %v, want EOF (closed by the server)", err)
			}
		}},
		{"a trickled polling POST body times out", func(c *config) {
			c.HTTPBodyTimeout = 300 * time.Millisecond
		}, func(t *testing.T, s *testServer) {
			sid := pollingHandshake(t, s.addr)
			conn := dialTCP(t, s.addr)
			fmt.Fprintf(conn, "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: %s\r\n"+
				"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 100000\r\n\r\n4", sid, s.addr)
			start := time.Now()
			_ = conn.SetReadDeadline(time.Now().Add(wait))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer to a trickled body: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("trickled body answered %d after %v, want 408", resp.StatusCode, time.Since(start))
			}
		}},
		{"?history=N is capped at 1000", func(c *config) {
			c.MaxEventsPerSecond = 0 // 1010 messages at once pass the default burst (1000)
		}, func(t *testing.T, s *testServer) {
			const stored = 1010
			sender := wstest.Dial(t, s.ws("/ws/big"))
			for i := range stored {
				sender.SendText(t, strconv.Itoa(i))
			}
			waitText(t, sender, strconv.Itoa(stored-1), 30*time.Second)
			late := wstest.Dial(t, s.ws("/ws/big?history=1000000"))
			for i := stored - 1000; i < stored; i++ {
				if got := late.NextText(t, wait); got != strconv.Itoa(i) {
					t.Fatalf("history message: %q, want %d (the last 1000)", got, i)
				}
			}
			sender.SendText(t, "live")
			if got := late.NextText(t, wait); got != "live" {
				t.Fatalf("after 1000 history messages got %q, want the live one", got)
			}
		}},
		{"a replay larger than the queue waits for a stalled reader", nil, func(t *testing.T, s *testServer) {
			const n, size = 600, 32 << 10 // 19 MiB of history, over the 8 MiB queue
			sender := wstest.Dial(t, s.ws("/ws/huge"))
			payload := strings.Repeat("x", size)
			for i := range n {
				sender.SendText(t, strconv.Itoa(i)+payload)
			}
			waitText(t, sender, strconv.Itoa(n-1)+payload, 60*time.Second)
			conn, br := rawUpgrade(t, s.addr, "/ws/huge?history=600", 4096)
			time.Sleep(time.Second) // the attack: read nothing for a second
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			for i := range n {
				op, p := readServerFrame(t, br)
				if op != 1 || !bytes.HasPrefix(p, []byte(strconv.Itoa(i)+"x")) {
					t.Fatalf("history frame %d: opcode %d, %.20q", i, op, p)
				}
			}
			sender.SendText(t, "live")
			if op, p := readServerFrame(t, br); op != 1 || string(p) != "live" {
				t.Fatalf("after the replay: opcode %d %.20q, want the live message", op, p)
			}
		}},
		{"a replay to a client that never reads ends with 1008, not a dead connection", nil, func(t *testing.T, s *testServer) {
			const n, size = 600, 32 << 10
			sender := wstest.Dial(t, s.ws("/ws/huge"))
			payload := strings.Repeat("x", size)
			for i := range n {
				sender.SendText(t, strconv.Itoa(i)+payload)
			}
			waitText(t, sender, strconv.Itoa(n-1)+payload, 60*time.Second)
			conn, br := rawUpgrade(t, s.addr, "/ws/huge?history=600", 4096)
			// The attack: read nothing until the server gives up on the
			// replay (its 10 s write bound), which it counts at once.
			eventually.True(t, 60*time.Second, "the stalled replay counted as a slow consumer", func() bool {
				return scrape(t, "http://"+s.addr+"/metrics")[`sockbus_refusals_total{reason="slow_consumer"}`] == 1
			})
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			code, reason := readUntilClose(t, br)
			if code != 1008 || reason != "slow consumer" {
				t.Fatalf("stalled replay closed with %d %q, want 1008 \"slow consumer\"", code, reason)
			}
		}},
		{"a client that stops reading gets 1008 slow consumer", nil, func(t *testing.T, s *testServer) {
			conn, br := rawUpgrade(t, s.addr, "/ws/flood", 4096)
			fence := wstest.Dial(t, s.ws("/ws/flood"))
			payload := strings.Repeat("y", 64<<10)
			for i := range 400 { // 25 MiB: the 8 MiB queue and the socket buffers overflow
				fence.SendText(t, strconv.Itoa(i)+payload)
			}
			waitText(t, fence, "399"+payload, 60*time.Second)
			// The server gave up on the stalled client by now; it resumes
			// reading and must find the close frame after the data.
			_ = conn.SetReadDeadline(time.Now().Add(wait))
			code, reason := readUntilClose(t, br)
			if code != 1008 || reason != "slow consumer" {
				t.Fatalf("stalled client closed with %d %q, want 1008 \"slow consumer\"", code, reason)
			}
		}},
		{"a 64 MiB frame gets 1009 while the client is still sending", nil, func(t *testing.T, s *testServer) {
			conn, br := rawUpgrade(t, s.addr, "/ws/x", 0)
			const n = 64 << 20
			hdr := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // masked, key 0
			binary.BigEndian.PutUint64(hdr[2:10], n)
			sent := make(chan error, 1)
			go func() {
				_ = conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
				_, err := conn.Write(append(hdr, make([]byte, n)...))
				sent <- err
			}()
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			code, reason := readUntilClose(t, br)
			if code != 1009 || reason != "message too large" {
				t.Fatalf("64 MiB frame closed with %d %q, want 1009 \"message too large\"", code, reason)
			}
			if err := <-sent; err != nil {
				t.Errorf("the client's write failed (reset while sending?): %v", err)
			}
		}},
		{"a silent client is closed with 1001 ping timeout", func(c *config) {
			c.pingInterval, c.pingTimeout = 100*time.Millisecond, 100*time.Millisecond
		}, func(t *testing.T, s *testServer) {
			silent := wstest.DialSilent(t, s.ws("/ws/x"))
			code, reason := silent.WaitClose(t, wait)
			if code != 1001 || reason != "ping timeout" {
				t.Fatalf("silent client closed with %d %q, want 1001 \"ping timeout\"", code, reason)
			}
		}},
		{"connections over --max-connections-per-ip are refused", func(c *config) {
			c.MaxConns, c.MaxConnsPerIP = 0, 4 // the bystander holds one
		}, func(t *testing.T, s *testServer) { connectionLimit(t, s, 3) }},
		{"connections over --max-connections are refused", func(c *config) {
			c.MaxConns, c.MaxConnsPerIP = 4, 0
		}, func(t *testing.T, s *testServer) { connectionLimit(t, s, 3) }},
	}
	attacks = append(attacks, limitAttacks...) // auth_integration_test.go
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			var mutate []func(*config)
			if a.mutate != nil {
				mutate = append(mutate, a.mutate)
			}
			s := startServer(t, mutate...)
			bystander := wstest.Dial(t, s.ws("/ws/bystander"))
			bystander.SendText(t, "before")
			waitText(t, bystander, "before", wait)

			a.attack(t, s)

			bystander.SendText(t, "after")
			waitText(t, bystander, "after", wait)
			// Nothing stored is lost: a late joiner gets both.
			late := wstest.Dial(t, s.ws("/ws/bystander?history=2"))
			for _, want := range []string{"before", "after"} {
				if got := late.NextText(t, wait); got != want {
					t.Fatalf("bystander's history: %q, want %q", got, want)
				}
			}
		})
	}
}

// connectionLimit holds the free connections, checks that one more is
// refused, and that a slot freed is taken again; it leaves with none held.
func connectionLimit(t *testing.T, s *testServer, free int) {
	held := make([]net.Conn, free)
	for i := range held {
		held[i], _ = rawUpgrade(t, s.addr, "/ws/held", 0)
	}
	if refused(t, s.addr) == false {
		t.Fatal("a connection over the limit was served")
	}
	held[0].Close()
	eventually.True(t, wait, "a freed slot to be taken", func() bool { return !refused(t, s.addr) })
	for _, c := range held[1:] {
		c.Close()
	}
	eventually.True(t, wait, "every slot to be free again", func() bool { return !refused(t, s.addr) })
}

// refused reports whether a WebSocket upgrade on a new connection is
// refused: a 503, or the connection closed before any answer.
func refused(t *testing.T, addr string) bool {
	t.Helper()
	conn := dialTCP(t, addr)
	defer conn.Close()
	writeUpgrade(conn, addr, "/ws/probe", "")
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return true // closed (or reset) without an answer
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusServiceUnavailable:
		return true
	case http.StatusSwitchingProtocols:
		return false
	}
	t.Fatalf("over the limit: %d", resp.StatusCode)
	return false
}

// waitText reads c's messages until want arrives.
func waitText(t *testing.T, c *wstest.Client, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		m, ok := c.TryNext(time.Until(deadline))
		if !ok {
			t.Fatalf("%.20q did not arrive within %v", want, d)
		}
		if string(m.Data) == want {
			return
		}
	}
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// upgradeStatus sends a WebSocket upgrade for path with origin (none if
// empty) and returns the response status.
func upgradeStatus(t *testing.T, addr, path, origin string) int {
	t.Helper()
	conn := dialTCP(t, addr)
	defer conn.Close()
	writeUpgrade(conn, addr, path, origin)
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("upgrade %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func writeUpgrade(w io.Writer, addr, path, origin string) {
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if origin != "" {
		req += "Origin: " + origin + "\r\n"
	}
	_, _ = io.WriteString(w, req+"\r\n")
}

// rawUpgrade opens a WebSocket on path with a bare TCP connection; a
// positive rcvbuf shrinks its receive buffer, so that a client that does
// not read stalls the server's writes soon.
func rawUpgrade(t *testing.T, addr, path string, rcvbuf int) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	writeUpgrade(conn, addr, path, "")
	br := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade %s: %v %v", path, resp, err)
	}
	return conn, br
}

// readServerFrame reads one unmasked, unfragmented server frame.
func readServerFrame(t *testing.T, br *bufio.Reader) (opcode byte, payload []byte) {
	t.Helper()
	opcode, payload, err := wstest.ReadServerFrame(br)
	if err != nil {
		t.Fatal(err)
	}
	return opcode, payload
}

// readUntilClose skips data frames and returns the close frame's code and
// reason; it fails the test if the connection ends without one.
func readUntilClose(t *testing.T, br *bufio.Reader) (int, string) {
	t.Helper()
	for {
		op, p := readServerFrame(t, br)
		if op != 8 {
			continue
		}
		if len(p) < 2 {
			return 1005, ""
		}
		return int(binary.BigEndian.Uint16(p)), string(p[2:])
	}
}

// pollingHandshake opens an Engine.IO polling session and returns its sid.
func pollingHandshake(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var open struct{ Sid string }
	if len(body) < 2 || json.Unmarshal(body[1:], &open) != nil || open.Sid == "" {
		t.Fatalf("polling handshake answered %q", body)
	}
	return open.Sid
}

// --allowed-origins is the flag's name; --cors-origins still works.
func TestAllowedOriginsFlagAndOldName(t *testing.T) {
	for _, name := range []string{"--allowed-origins", "--cors-origins"} {
		cfg, _, err := conf.Load("sockbus", []string{name, "https://a.example"}, nil, io.Discard)
		if err != nil || len(cfg.CORSOrigins) != 1 || cfg.CORSOrigins[0] != "https://a.example" {
			t.Errorf("%s: %q, %v", name, cfg.CORSOrigins, err)
		}
	}
	cfg, _, err := conf.Load("sockbus", nil, nil, io.Discard)
	if err != nil || cfg.HTTPIdleTimeout != time.Minute || cfg.HTTPBodyTimeout != 30*time.Second || cfg.MaxHistory != 1000 {
		t.Fatalf("defaults: idle %v, body %v, history %d, %v", cfg.HTTPIdleTimeout, cfg.HTTPBodyTimeout, cfg.MaxHistory, err)
	}
}
