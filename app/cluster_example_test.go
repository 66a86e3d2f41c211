package app

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/loopback"
	"github.com/sockbus/sockbus/internal/siotest"
)

// TestClusterExampleScript checks examples/cluster/run.sh parses.
func TestClusterExampleScript(t *testing.T) {
	if out, err := exec.Command("bash", "-n", "examples/cluster/run.sh").CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
}

// TestClusterExample runs examples/cluster/run.sh as documented (on free
// ports): it builds sockbus and the proxy, starts three nodes with
// --replicas 3 and the round-robin proxy, and prints "cluster ready". Then
// a polling session whose every request lands on another node, and two
// WebSocket clients relaying through the proxy, work; SIGTERM stops all of
// it (each node logs "shutdown complete"). In between, the official
// socket.io-client runs test/cluster through the proxy.
func TestClusterExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts three sockbus processes")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is needed by examples/cluster/run.sh")
		}
		t.Skip("SKIP: curl not installed (examples/cluster/run.sh polls /readyz with it)")
	}
	node := needNode(t)
	ports := loopback.FreeAddrs(t, 7)
	port := func(i int) string { return ports[i][strings.LastIndexByte(ports[i], ':')+1:] }
	data := t.TempDir()
	cmd := exec.Command("bash", "examples/cluster/run.sh")
	cmd.Env = append(os.Environ(),
		"PROXY_PORT="+port(0),
		"HTTP_PORTS="+port(1)+" "+port(2)+" "+port(3),
		"ROUTE_PORTS="+port(4)+" "+port(5)+" "+port(6),
		"DATA="+data,
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	ready := make(chan struct{})
	var logText strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			logText.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "cluster ready:") {
				close(ready)
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }) // only if the test failed midway
	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("run.sh exited before the cluster was ready: %v\n%s", err, logText.String())
	case <-time.After(4 * time.Minute):
		t.Fatalf("cluster not ready after 4 minutes\n%s", logText.String())
	}
	base := "http://" + ports[0]

	// Long-polling, with round-robin: handshake, CONNECT, and its reply
	// each reach a different node.
	get := func(url string) string {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d %s", url, resp.StatusCode, b)
		}
		return string(b)
	}
	open := get(base + "/socket.io/?EIO=4&transport=polling")
	var hs struct{ Sid string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(open, "0")), &hs); err != nil || hs.Sid == "" {
		t.Fatalf("handshake %q", open)
	}
	poll := base + "/socket.io/?EIO=4&transport=polling&sid=" + hs.Sid
	resp, err := http.Post(poll, "text/plain;charset=UTF-8", strings.NewReader("40"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST CONNECT = %d", resp.StatusCode)
	}
	if got := get(poll); !strings.HasPrefix(got, `40{"sid":`) {
		t.Fatalf("CONNECT reply over polling %q", got)
	}

	// Two WebSocket clients through the proxy relay each other's events.
	x := siotest.Dial(t, base, "/socket.io/")
	x.ConnectID(t, "/", "")
	y := siotest.Dial(t, base, "/socket.io/")
	y.ConnectID(t, "/", "")
	y.Send(t, siotest.Event("/", 1, "hello", `"through the proxy"`))
	for {
		if p := y.NextText(t, 10*time.Second); strings.HasPrefix(p, "3") {
			if p != "31[]" {
				t.Fatalf("ack %q", p)
			}
			break
		}
	}
	if p := x.NextText(t, 10*time.Second); !strings.HasPrefix(p, `2["hello","through the proxy"`) {
		t.Fatalf("relayed %q", p)
	}

	// The official client, default transports, polling only and WebSocket
	// only, through the example's proxy (the suite TestClusterBehindRoundRobin
	// runs through the test's own balancer).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	suite := exec.CommandContext(ctx, node, "--test", "--test-concurrency=1", "--test-reporter=spec", "test/cluster/")
	suite.Env = append(os.Environ(), "SOCKBUS_URL="+base)
	if out, err := runNodeSuite(t, suite); err != nil {
		t.Fatalf("node cluster tests through examples/cluster/proxy failed: %v\n%s", err, out)
	} else {
		t.Logf("socket.io-client through examples/cluster/proxy:\n%s", lastLines(string(out), 8))
	}

	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("run.sh did not stop on SIGTERM\n%s", logText.String())
	}
	for n := 1; n <= 3; n++ {
		b, _ := os.ReadFile(filepath.Join(data, "node"+string(rune('0'+n))+".log"))
		if !strings.Contains(string(b), "shutdown complete") {
			t.Errorf("node%d log has no 'shutdown complete':\n%s", n, b)
		}
	}
}
