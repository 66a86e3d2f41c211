package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/wstest"
)

// processState is what a flood of names must not grow: goroutines, open
// files, live heap and JetStream streams.
type processState struct {
	goroutines, files, streams int
	heap                       uint64
}

func readState(t *testing.T, s *testServer) processState {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	names := s.bus.JetStream().StreamNames(context.Background())
	for range names.Name() {
		n++
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	return processState{goroutines: runtime.NumGoroutine(), files: len(fds), streams: n, heap: ms.HeapAlloc}
}

// settledNear polls until the process is back near base: streams exactly,
// goroutines and files within a few (the HTTP server's idle keep-alives,
// the NATS server's timers), heap within slack bytes.
func settledNear(t *testing.T, s *testServer, base processState, what string, slack uint64) {
	t.Helper()
	var now processState
	ok := eventually.Within(20*time.Second, func() bool {
		now = readState(t, s)
		return now.streams == base.streams && now.goroutines <= base.goroutines+10 &&
			now.files <= base.files+10 && now.heap <= base.heap+slack
	})
	if !ok {
		t.Fatalf("after %s: %+v, baseline %+v", what, now, base)
	}
	t.Logf("after %s: %+v (baseline %+v)", what, now, base)
}

// Nothing a client names outlives its connection: 10,000 namespaces joined
// and left, 10,000 channels opened and closed, and 2,000 plain GETs on
// channel paths leave the goroutines, files, heap and streams of the node
// where they were.
func TestNamesLeaveNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 20,000 names")
	}
	s := startServer(t, func(c *config) {
		// One connection joins 10,000 namespaces: each CONNECT costs an event.
		c.MaxEventsPerSecond, c.MaxEventsPerAddress = 0, 0
	})
	// Warm up every code path once, so the baseline includes pools and
	// lazily started goroutines.
	warm := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	warm.Connect(t, "/warm", "")
	warm.Send(t, "1/warm,")
	wstest.Dial(t, s.ws("/ws/warm")).Close()
	base := readState(t, s)

	const names = 10_000
	start := time.Now()
	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	const batch = 100 // under the namespaces-per-connection limit
	for i := 0; i < names; i += batch {
		for j := i; j < i+batch; j++ {
			c.Send(t, "0/ns-"+strconv.Itoa(j)+",")
		}
		for got := 0; got < batch; {
			if p := c.NextText(t, wait); strings.HasPrefix(p, "0/ns-") {
				got++
			} else if strings.HasPrefix(p, "4/ns-") {
				t.Fatalf("connect refused: %s", p)
			}
		}
		for j := i; j < i+batch; j++ {
			c.Send(t, "1/ns-"+strconv.Itoa(j)+",")
		}
	}
	// A marker proves every DISCONNECT before it was handled.
	if got := c.Connect(t, "/marker", ""); !strings.HasPrefix(got, "0/marker,") {
		t.Fatalf("marker connect: %s", got)
	}
	c.Send(t, "1/marker,")
	settledNear(t, s, base, "10,000 namespaces", 16<<20)
	t.Logf("namespaces: %v", time.Since(start))
	start = time.Now()

	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := openAndClose(s.addr, "/ws/ch-"+strconv.Itoa(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range names {
		work <- i
	}
	close(work)
	wg.Wait()
	settledNear(t, s, base, "10,000 channels", 16<<20)
	t.Logf("channels: %v", time.Since(start))

	// Plain GETs (an <img> on a web page): refused before anything exists.
	for i := range 2000 {
		resp, err := http.Get("http://" + s.addr + "/ws/img-" + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("plain GET on a channel: %d", resp.StatusCode)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	settledNear(t, s, base, "2,000 plain GETs", 16<<20)
}

// openAndClose opens a WebSocket on path with a bare handshake, waits for
// the 101, then sends a close frame and waits for the server to close: a
// client that keeps nothing, so only the server's memory is measured.
func openAndClose(addr, path string) error {
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wait))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("%s: status %d", path, resp.StatusCode)
	}
	// A masked close frame, code 1000, empty mask key (RFC 6455 5.3).
	if _, err := conn.Write([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8}); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, r) // until the server closes
	return nil
}

// Three nodes, one client on each, connecting at once to a namespace none
// of them has seen, 30 times over: with streams fixed at start there is
// nothing to create on connect, so no connect can lose a creation race.
// Each round also checks that an event emitted right after the connects,
// from one node, reaches the other two.
func TestConcurrentFirstConnectsAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	clients := make([]*siotest.Client, len(nodes))
	for i, s := range nodes {
		clients[i] = siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	}
	for round := range 30 {
		nsp := "/fresh-" + strconv.Itoa(round)
		var wg sync.WaitGroup
		replies := make([]string, len(clients))
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.Send(t, "0"+nsp+",")
			}()
			_ = i
		}
		wg.Wait()
		for i, c := range clients {
			for replies[i] == "" {
				if p := c.NextText(t, wait); strings.HasPrefix(p, "0"+nsp+",") || strings.HasPrefix(p, "4"+nsp+",") {
					replies[i] = p
				}
			}
			if !strings.HasPrefix(replies[i], "0"+nsp+",") {
				t.Fatalf("round %d: node %d refused %s: %s", round, i, nsp, replies[i])
			}
		}
		// No wait for route interest: a node answers CONNECT only once
		// every other node knows its new subscription (bus.syncRoutes).
		clients[round%3].Send(t, siotest.Event(nsp, 1, "hi", strconv.Quote("r"+strconv.Itoa(round))))
		for i, c := range clients {
			want := `2` + nsp + `,["hi","r` + strconv.Itoa(round) + `"`
			if i == round%3 {
				want = "3" + nsp + ",1[]"
			}
			for {
				p := c.NextText(t, 2*wait)
				if strings.HasPrefix(p, want) {
					break
				}
				t.Logf("round %d node %d: skipped %s", round, i, p)
			}
		}
	}
}
