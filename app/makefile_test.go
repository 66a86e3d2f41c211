package app

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMakeLeavesLinkedNodeModules: make's npm ci step runs for a
// node_modules of its own and is skipped for a symlinked one (a worktree
// sharing another checkout's node_modules, which npm ci would empty).
// npm is a script that records its calls.
func TestMakeLeavesLinkedNodeModules(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make missing")
	}
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, linked := range []bool{false, true} {
		dir := t.TempDir()
		bin := filepath.Join(dir, "bin")
		calls := filepath.Join(dir, "npm-calls")
		shared := filepath.Join(dir, "shared")
		for _, d := range []string{bin, filepath.Join(dir, "tree"), shared} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		tree := filepath.Join(dir, "tree")
		write := func(p, s string, mode os.FileMode) {
			if err := os.WriteFile(p, []byte(s), mode); err != nil {
				t.Fatal(err)
			}
		}
		write(filepath.Join(bin, "npm"), "#!/bin/sh\necho \"$@\" >> "+calls+"\n", 0o755)
		write(filepath.Join(tree, "Makefile"), string(mk), 0o644)
		write(filepath.Join(shared, ".package-lock.json"), "{}", 0o644)
		old := time.Now().Add(-time.Hour) // the lockfile changed since the last npm ci
		if err := os.Chtimes(filepath.Join(shared, ".package-lock.json"), old, old); err != nil {
			t.Fatal(err)
		}
		if linked {
			if err := os.Symlink(shared, filepath.Join(tree, "node_modules")); err != nil {
				t.Fatal(err)
			}
		} else if err := os.Mkdir(filepath.Join(tree, "node_modules"), 0o755); err != nil {
			t.Fatal(err)
		}
		write(filepath.Join(tree, "package-lock.json"), "{}", 0o644)
		cmd := exec.Command("make", "node_modules/.package-lock.json")
		cmd.Dir = tree
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make (linked %v): %v\n%s", linked, err, out)
		}
		got, _ := os.ReadFile(calls)
		if ran := strings.Contains(string(got), "ci"); ran == linked {
			t.Errorf("linked node_modules %v: npm calls %q", linked, got)
		}
	}
}
