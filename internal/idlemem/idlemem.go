package idlemem

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// InChild runs the test named test again in a measuring child process
// (serverEnv set, GODEBUG adaptivestackstart=0) and reports true, unless
// this is that child: then it reports false and the caller measures.
func InChild(t *testing.T, test, serverEnv string) bool {
	t.Helper()
	if os.Getenv(serverEnv) != "" {
		return false
	}
	godebug := os.Getenv("GODEBUG")
	if godebug != "" {
		godebug += ","
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), serverEnv+"=1", "GODEBUG="+godebug+"adaptivestackstart=0")
	out, err := cmd.CombinedOutput()
	t.Logf("measuring process:\n%s", out)
	if err != nil {
		t.Fatalf("the measuring process failed: %v", err)
	}
	return true
}

// Stats reads the runtime's figures once garbage and pooled buffers are
// gone (sync.Pool keeps its contents for one GC).
func Stats() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// StartClients starts the client process (the test named test, with
// clientEnv set to "addr,n", which calls Clients) and waits until it holds
// its n connections; the test's cleanup makes it hang up and exit.
func StartClients(t *testing.T, test, clientEnv, addr string, n int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", clientEnv, addr, n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("failed to start the client process: %v", err)
	}
	t.Cleanup(func() {
		_ = stdin.Close() // the clients hang up and exit
		_ = cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-ready:
		if strings.TrimSpace(line) != "ready" {
			t.Fatalf("client process: %q", line)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("client process not ready after 2 minutes")
	}
}

// Clients is the client process: from spec "addr,n" it opens n WebSocket
// connections to target on addr with bare sockets (no goroutine per
// connection), hands each to greet once upgraded, prints "ready" and holds
// them until its stdin closes.
func Clients(t *testing.T, spec, target string, greet func(c net.Conn, br *bufio.Reader)) {
	t.Helper()
	addr, nStr, _ := strings.Cut(spec, ",")
	n, err := strconv.Atoi(nStr)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	req := "GET " + target + " HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	for range n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatalf("write: %v", err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		greet(c, br)
		_ = c.SetDeadline(time.Time{})
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
}
