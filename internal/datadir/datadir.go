package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockName is the lock file inside a claimed data directory. It holds the
// owner's process id; the file stays after release, only the lock goes.
const LockName = "sockbus.lock"

// ErrInUse means another process (or another run in this one) holds the
// directory.
var ErrInUse = errors.New("data dir is in use by another sockbus process")

// Lock is a claimed data directory.
type Lock struct {
	f *os.File
}

// Claim creates dir if needed, checks that files can be written in it and
// takes its lock without waiting.
func Claim(dir string) (*Lock, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to resolve data dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create data dir %s: %w", abs, unwrapPath(err))
	}
	// The lock file may already exist and be writable in a directory that
	// is not: JetStream creates files, so probe with a new one.
	probe, err := os.CreateTemp(abs, ".write-check-*")
	if err != nil {
		return nil, fmt.Errorf("data dir %s is not writable: %w", abs, unwrapPath(err))
	}
	probe.Close()
	os.Remove(probe.Name())

	path := filepath.Join(abs, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to open lock file %s: %w", path, unwrapPath(err))
	}
	// flock locks belong to the open file, so a second Claim in the same
	// process conflicts too, and the kernel drops the lock if we die.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(owner))
			if pid == "" {
				pid = "unknown"
			}
			return nil, fmt.Errorf("%w: %s is locked by pid %s (%s); stop it or give this process its own --data-dir",
				ErrInUse, abs, pid, path)
		}
		return nil, fmt.Errorf("failed to lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock. Safe to call more than once.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	return err
}

// unwrapPath keeps the reason of a *PathError: the message names the path
// already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
