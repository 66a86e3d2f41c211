package app

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/wstest"
)

// needPodman returns podman's path. .ci/run installs it, so CI without it
// is a failure; elsewhere the test skips with a visible line.
func needPodman(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("podman")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("podman missing in CI (.ci/run installs it)")
		}
		t.Skip("podman missing: `apt-get install podman` (.ci/run does) to build the Containerfile's image")
	}
	return p
}

// TestContainerImage builds the Containerfile's image with podman (vfs
// storage and chroot isolation in a private store: no registry, overlay or
// user namespaces needed) from a static binary, checks what it declares (a
// numeric non-root user, /data a volume, the listen address and data dir),
// then runs it as a user would, with a named volume on /data, and talks to
// it as the integration tests do: /healthz answers, a real WebSocket client
// gets its message echoed on a channel, SIGTERM ends it with status 0.
func TestContainerImage(t *testing.T) {
	podman := needPodman(t)
	if out, err := exec.Command("make", "-n", "build").Output(); err != nil || !strings.Contains(string(out), "CGO_ENABLED=0 ") {
		t.Errorf("make build does not build with CGO_ENABLED=0 (%v):\n%s", err, out)
	}
	dir := t.TempDir()
	ctxDir := filepath.Join(dir, "context") // the layout `make image` prepares
	if err := os.MkdirAll(filepath.Join(ctxDir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(ctxDir, "sockbus"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	requireStatic(t, filepath.Join(ctxDir, "sockbus"))

	global := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"}
	if _, err := exec.LookPath("runc"); err == nil {
		global = append(global, "--runtime", "runc") // crun 1.8 refuses a hybrid cgroup layout
	}
	pod := func(stdout io.Writer, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var errOut bytes.Buffer
		c := exec.CommandContext(ctx, podman, append(slices.Clone(global), args...)...)
		c.Stdout, c.Stderr = stdout, &errOut
		if lb, ok := stdout.(*lockedBuffer); ok {
			c.Stderr = io.MultiWriter(&errOut, lb) // both of podman logs' streams
		}
		if err := c.Run(); err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
	}
	start := time.Now()
	pod(io.Discard, "build", "--isolation", "chroot", "-f", "Containerfile", "-t", "sockbus-test", ctxDir)
	t.Logf("podman build: %v", time.Since(start).Round(time.Millisecond))

	var cfgJSON bytes.Buffer
	pod(&cfgJSON, "image", "inspect", "--format", "{{json .Config}}", "sockbus-test")
	var img struct {
		User       string
		Env        []string
		Entrypoint []string
		Volumes    map[string]struct{}
	}
	if err := json.Unmarshal(cfgJSON.Bytes(), &img); err != nil {
		t.Fatalf("image config %q: %v", cfgJSON.String(), err)
	}
	if img.User != "65532:65532" {
		t.Errorf("USER %q, want the numeric non-root 65532:65532", img.User)
	}
	if _, ok := img.Volumes["/data"]; !ok {
		t.Errorf("volumes %v, want /data", img.Volumes)
	}
	for _, e := range []string{"SOCKBUS_ADDR=0.0.0.0:3000", "SOCKBUS_DATA_DIR=/data"} {
		if !slices.Contains(img.Env, e) {
			t.Errorf("env %v lacks %s", img.Env, e)
		}
	}
	if !slices.Equal(img.Entrypoint, []string{"/sockbus"}) {
		t.Errorf("entrypoint %v, want [/sockbus]", img.Entrypoint)
	}

	runImage(t, pod)
}

// requireStatic fails unless path is an ELF binary with no interpreter
// and no shared libraries: it runs on an empty base.
func requireStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, _ := f.ImportedLibraries()
	interp := slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
	if interp || len(libs) > 0 {
		t.Fatalf("%s is dynamically linked (interpreter %v, libraries %v)", path, interp, libs)
	}
}

var startedLine = regexp.MustCompile(`"sockbus started" http=http://(\S+)`)

// runImage runs the image as a user would, with a named volume on /data
// (which starts as the image's /data: the server stores there as uid
// 65532 only if that copy is its own), on the host's network and a
// loopback port of its choosing, as the integration tests listen. The
// explicit ulimits are for sandboxes without CAP_SYS_RESOURCE, where
// podman's default (raise them to 1048576) is refused.
func runImage(t *testing.T, pod func(io.Writer, ...string)) {
	t.Helper()
	var idOut bytes.Buffer
	pod(&idOut, "run", "-d", "--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
		"-e", "SOCKBUS_ADDR=127.0.0.1:0", "-v", "sockbus-test-data:/data", "sockbus-test")
	id := strings.TrimSpace(idOut.String())
	t.Cleanup(func() { pod(io.Discard, "rm", "-f", "-t", "0", id) })
	logs := func() string { // podman logs writes the container's stderr on its own
		var b lockedBuffer
		pod(&b, "logs", id)
		return b.String()
	}
	var addr string
	state := func() string {
		var b bytes.Buffer
		pod(&b, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", id)
		return strings.TrimSpace(b.String())
	}
	if !eventually.Within(30*time.Second, func() bool {
		if m := startedLine.FindStringSubmatch(logs()); m != nil {
			addr = m[1]
			return true
		}
		return !strings.HasPrefix(state(), "running") // no use waiting
	}) || addr == "" {
		t.Fatalf("the container's sockbus did not start (%s):\n%s", state(), logs())
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
	c := wstest.Dial(t, "ws://"+addr+"/ws/lobby")
	c.SendText(t, "from the image")
	if got := c.NextText(t, 10*time.Second); got != "from the image" {
		t.Errorf("echo %q", got)
	}
	c.Close()
	pod(io.Discard, "stop", "-t", "30", id) // SIGTERM: the ordered shutdown
	if got := state(); got != "exited 0" || !strings.Contains(logs(), "shutdown complete") {
		t.Fatalf("%s after SIGTERM:\n%s", got, logs())
	}
}
