package main

import (
	"archive/tar"
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
	"syscall"
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
// storage and chroot isolation in a private store, so it needs no
// registry, overlay or user namespaces), checks what it declares (a
// numeric non-root user, /data a volume owned by that user, the listen
// address and data dir), then takes the binary out of the image and runs
// it as the integration tests run sockbus: /healthz answers and a real
// WebSocket client gets its message echoed on a channel. Running the image
// itself (podman run) needs cgroups and setrlimit, which CI sandboxes may
// lack.
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

	pod := func(stdout io.Writer, args ...string) {
		t.Helper()
		var errOut bytes.Buffer
		c := exec.CommandContext(ctx, podman, append([]string{"--root", filepath.Join(dir, "root"),
			"--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"}, args...)...)
		c.Stdout, c.Stderr = stdout, &errOut
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

	var id bytes.Buffer
	pod(&id, "create", "sockbus-test")
	var fs bytes.Buffer
	pod(&fs, "export", strings.TrimSpace(id.String()))
	bin := filepath.Join(dir, "sockbus-from-image")
	var dataOwner = -1
	tr := tar.NewReader(&fs)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch strings.Trim(h.Name, "/") {
		case "sockbus":
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(bin, b, 0o755); err != nil {
				t.Fatal(err)
			}
		case "data":
			if h.Typeflag == tar.TypeDir && h.Mode&0o200 != 0 {
				dataOwner = h.Uid
			}
		}
	}
	if dataOwner != 65532 {
		t.Errorf("/data in the image: owner-writable directory of uid %d, want 65532", dataOwner)
	}
	requireStatic(t, bin)
	runImageBinary(t, bin, img.Env)
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

// runImageBinary runs bin with the image's environment, except that it
// listens on a loopback port of its choosing in a data dir of the test's.
func runImageBinary(t *testing.T, bin string, env []string) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	cmd.Env = append(slices.Clone(env), "SOCKBUS_ADDR=127.0.0.1:0", "SOCKBUS_DATA_DIR="+filepath.Join(cmd.Dir, "data"))
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	var addr string
	eventually.True(t, 30*time.Second, "the image's binary started", func() bool {
		if m := startedLine.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
			return true
		}
		return false
	})
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
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("exited with %v after SIGTERM:\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30 s after SIGTERM:\n%s", out.String())
	}
}
