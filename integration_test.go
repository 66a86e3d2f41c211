package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/wstest"
)

// The tests that drive run with real clients live in package app
// (app/*_test.go). This one is the entry level: the binary as `make
// build` links it (its -ldflags included), started as an operator starts
// it, used by a plain WebSocket and a Socket.IO client, and stopped with
// SIGTERM.

const wait = 10 * time.Second

// TestBinaryEndToEnd builds ./sockbus, checks `sockbus version`, serves on
// a free loopback port with its own data dir, relays a plain WebSocket
// message and a Socket.IO event between two clients each, and exits 0
// with "shutdown complete" after SIGTERM.
func TestBinaryEndToEnd(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sockbus")
	ldflags := "-X github.com/sockbus/sockbus/app.version=v0.0.0-e2e -X github.com/sockbus/sockbus/app.commit=e2e"
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "sockbus v0.0.0-e2e\ncommit e2e\n") {
		t.Fatalf("sockbus version: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	logs := readLogs(stderr)
	var started map[string]any
	if !eventually.Within(wait, func() bool { started = logs.find("sockbus started"); return started != nil }) {
		t.Fatalf("no start-up line:\n%s", logs)
	}
	if started["version"] != "v0.0.0-e2e" || started["auth"] != "open" {
		t.Errorf("start-up line %v", started)
	}
	base, _ := started["http"].(string)
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("start-up line names no address: %v", started)
	}
	eventually.True(t, wait, "/readyz to answer 200", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	ws := "ws" + strings.TrimPrefix(base, "http") + "/ws/lobby"
	a, b := wstest.Dial(t, ws), wstest.Dial(t, ws)
	a.SendText(t, "hello")
	if got := b.NextText(t, wait); got != "hello" {
		t.Errorf("plain WebSocket: the other client got %q", got)
	}
	x, y := siotest.Dial(t, base, "/socket.io/"), siotest.Dial(t, base, "/socket.io/")
	x.ConnectID(t, "/", "")
	y.ConnectID(t, "/", "")
	x.Emit(t, "/", "chat", `"hi"`)
	if got := y.NextText(t, wait); !strings.HasPrefix(got, `2["chat","hi"`) {
		t.Errorf("Socket.IO: the other client got %q", got)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select { // the log's last lines are read before Wait closes the pipe
	case <-logs.done:
	case <-time.After(wait + 10*time.Second): // above the default --shutdown-timeout
		t.Fatalf("still running 20s after SIGTERM:\n%s", logs)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, logs)
	}
	if logs.find("shutdown complete") == nil {
		t.Fatalf("no \"shutdown complete\":\n%s", logs)
	}
	for _, c := range []*wstest.Client{a, b, x.WS, y.WS} {
		if code, _ := c.WaitClose(t, wait); code != 1001 {
			t.Errorf("client closed with %d, want 1001 (going away)", code)
		}
	}
}

// logLines collects a process's JSON log lines as they come.
type logLines struct {
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func readLogs(r io.Reader) *logLines {
	l := &logLines{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, sc.Text())
			l.mu.Unlock()
		}
	}()
	return l
}

// find returns the first line whose msg is msg, decoded; nil if none yet.
func (l *logLines) find(msg string) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	return nil
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
