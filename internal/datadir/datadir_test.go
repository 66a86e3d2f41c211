package datadir

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestSecondClaimRefusedUntilReleased(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := Claim(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Claim(dir)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) ||
		!strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("second claim: %v", err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	if err := first.Release(); err != nil {
		t.Fatal("second release:", err)
	}
	again, err := Claim(dir)
	if err != nil {
		t.Fatal("claim after release:", err)
	}
	again.Release()
}

func TestUnusableDirs(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Claim(filepath.Join(file, "data"))
	if err == nil || !strings.Contains(err.Error(), file) || !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("data dir under a file: %v", err)
	}

	// A directory we cannot create files in: chmod works for users; root
	// ignores modes, so it gets sysfs, which refuses file creation to all.
	ro := t.TempDir()
	if err := os.Chmod(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(ro, 0o700) })
	if os.WriteFile(filepath.Join(ro, "probe"), nil, 0o600) == nil {
		ro = "/sys"
	}
	_, err = Claim(ro)
	if err == nil || !strings.Contains(err.Error(), "data dir "+ro+" is not writable") {
		t.Fatalf("read-only data dir: %v", err)
	}
}
