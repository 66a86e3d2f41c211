package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestWarnIsRateLimitedPerMessage(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Minute)
	clock := time.Unix(1000, 0)
	l.now = func() time.Time { return clock }
	for range 100 {
		l.Warn("too many connections", "ip", "127.0.0.1")
		l.Warn("origin refused")
	}
	if n := strings.Count(buf.String(), "too many connections"); n != 1 {
		t.Fatalf("logged %d times in one interval, want 1:\n%s", n, buf.String())
	}
	if n := strings.Count(buf.String(), "origin refused"); n != 1 {
		t.Fatalf("a second message was limited by the first: %d records", n)
	}
	clock = clock.Add(time.Minute)
	l.Warn("too many connections")
	if !strings.Contains(buf.String(), "suppressed=99") {
		t.Fatalf("the first record after the interval should count 99 suppressed:\n%s", buf.String())
	}
}

func TestNilLoggerDrops(t *testing.T) {
	var l *Logger
	l.Warn("nothing") // must not panic
}
