package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/bus"
	conf "github.com/sockbus/sockbus/config"
	"github.com/sockbus/sockbus/internal/datadir"
	"github.com/sockbus/sockbus/wsedge"
)

// A second run on the same data dir refuses to start and names the
// flag; once the first has stopped, the directory can be used again.
func TestDataDirBelongsToOneProcess(t *testing.T) {
	s := startServer(t)
	cfg := defaultConfig()
	cfg.Addr, cfg.DataDir, cfg.LogLevel = "127.0.0.1:0", s.dataDir, "error"
	began := time.Now()
	err := run(context.Background(), cfg)
	if !errors.Is(err, datadir.ErrInUse) || !strings.Contains(err.Error(), s.dataDir) || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("second run on %s: %v", s.dataDir, err)
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("refusal took %v", took)
	}
	s.stop(t)
	startServer(t, func(c *config) { c.DataDir = s.dataDir })
}

func TestUnwritableDataDirFailsFast(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.Addr, cfg.DataDir, cfg.LogLevel = "127.0.0.1:0", filepath.Join(file, "data"), "error"
	began := time.Now()
	err := run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("run: %v", err)
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("failure took %v", took)
	}
}

// One JSON start-up line with the addresses and data dir, one "shutdown
// complete" line.
func TestStartAndShutdownLogLines(t *testing.T) {
	var logs lockedBuffer
	s := startServer(t, func(c *config) {
		c.LogLevel, c.LogFormat, c.logOut = "info", "json", &logs
	})
	s.stop(t)
	var started, complete map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		switch m["msg"] {
		case "sockbus started":
			started = m
		case "shutdown complete":
			complete = m
		}
	}
	if started == nil || started["http"] != "http://"+s.addr || started["data_dir"] != s.dataDir ||
		started["nats"] != "in-process only" || started["cluster"] != "off" || started["auth"] != "open" {
		t.Fatalf("start-up line %v in:\n%s", started, logs.String())
	}
	if complete == nil {
		t.Fatalf("no shutdown complete line in:\n%s", logs.String())
	}
}

func TestCLICommands(t *testing.T) {
	var out, errOut bytes.Buffer
	// The dependencies' versions are checked on the built binary
	// (TestVersionFromLdflags): a test binary of a non-main package records none.
	if st := Main([]string{"version"}, nil, &out, &errOut); st != 0 || !strings.Contains(out.String(), "sockbus ") ||
		!strings.Contains(out.String(), "socket.io-client ") {
		t.Fatalf("version: %d %q %q", st, out.String(), errOut.String())
	}
	out.Reset()
	if st := Main([]string{"config", "default"}, nil, &out, &errOut); st != 0 || !strings.Contains(out.String(), "\nreplicas: 1\n") {
		t.Fatalf("config default: %d %q", st, out.String())
	}
	out.Reset()
	st := Main([]string{"config", "print", "--replicas", "3"}, []string{"SOCKBUS_REPLICAS=bad", "SOCKBUS_LOG_FORMAT=json"}, &out, &errOut)
	if st != 0 || !strings.Contains(out.String(), "replicas: 3  # flag --replicas") ||
		!strings.Contains(out.String(), `log-format: "json"  # env SOCKBUS_LOG_FORMAT`) {
		t.Fatalf("config print: %d %q %q", st, out.String(), errOut.String())
	}
	errOut.Reset()
	if st := Main([]string{"--replicas", "6"}, nil, &out, &errOut); st != 2 || !strings.Contains(errOut.String(), "must be 1..5") {
		t.Fatalf("bad replicas: %d %q", st, errOut.String())
	}
}

// --shared-streams accepts exactly bus's range.
func TestSharedStreamsRange(t *testing.T) {
	max := strconv.Itoa(bus.MaxSharedStreams)
	if _, _, err := conf.Load("sockbus", []string{"--shared-streams", max}, nil, io.Discard); err != nil {
		t.Fatalf("--shared-streams %s: %v", max, err)
	}
	if _, _, err := conf.Load("sockbus", []string{"--shared-streams", max + "1"}, nil, io.Discard); err == nil {
		t.Fatalf("--shared-streams %s1 accepted", max)
	}
}

// --auth-hook-timeout is honoured up to wsedge's bound on a connect's
// authorization and refused above it, never silently capped.
func TestAuthHookTimeoutBound(t *testing.T) {
	if _, _, err := conf.Load("sockbus", []string{"--auth-hook-timeout", wsedge.AuthTimeout.String()}, nil, io.Discard); err != nil {
		t.Fatalf("--auth-hook-timeout %v: %v", wsedge.AuthTimeout, err)
	}
	for _, d := range []string{(wsedge.AuthTimeout + time.Millisecond).String(), "20s"} {
		if _, _, err := conf.Load("sockbus", []string{"--auth-hook-timeout", d}, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "must be 1ms..10s") {
			t.Fatalf("--auth-hook-timeout %s: %v", d, err)
		}
	}
}

// The embedded server gets a bcrypt hash of --nats-password: no
// "Plaintext passwords detected" warning, and the password still works.
func TestNoPlaintextPasswordWarning(t *testing.T) {
	var logs lockedBuffer
	s := startServer(t, func(c *config) {
		c.NATSAddr, c.NATSUser, c.NATSPassword = "127.0.0.1:0", "ops", "pw"
		c.LogLevel, c.logOut = "debug", &logs
	})
	nc, err := nats.Connect(s.bus.ClientURL(), nats.UserInfo("ops", "pw"))
	if err != nil {
		t.Fatal("connect with the password:", err)
	}
	nc.Close()
	s.stop(t)
	if strings.Contains(logs.String(), "Plaintext passwords") {
		t.Fatalf("warning logged:\n%s", logs.String())
	}
}

// make build's -ldflags reach `sockbus version`.
func TestVersionFromLdflags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sockbus")
	build := exec.Command("go", "build", "-ldflags", "-X github.com/sockbus/sockbus/app.version=v9.8.7 -X github.com/sockbus/sockbus/app.commit=c0ffee", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "sockbus v9.8.7\ncommit c0ffee\n") || !strings.Contains(string(out), "\ngithub.com/nats-io/nats-server/v2 v") {
		t.Fatalf("version: %v\n%s", err, out)
	}
}
