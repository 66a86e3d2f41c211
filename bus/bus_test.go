package bus

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startBus(t testing.TB, cfg Config) *Bus {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	b, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return b
}

// receive returns the next value on ch, failing the test with format and
// args if none comes within 10 s.
func receive[T any](t testing.TB, ch <-chan T, format string, args ...any) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf(format+" (nothing within 10 s)", args...)
	}
	var zero T
	return zero
}

// storeWait stores m and waits for its acknowledgement, failing the test
// with what (the event's name in the message) on an error or a timeout.
func storeWait(t testing.TB, b *Bus, m *Msg, what string) {
	t.Helper()
	done := make(chan error, 1)
	if err := b.PublishStored(m, func(err error) { done <- err }); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := receive(t, done, "%s not acknowledged", what); err != nil {
		t.Fatalf("%s not stored: %v", what, err)
	}
}

func TestStreamRepublishesWithSequence(t *testing.T) {
	b := startBus(t, Config{})
	if !b.Ready() {
		t.Fatal("bus not ready after Start")
	}
	tok, _ := EncodeToken("room.1")
	l := b.Log(KindChannel, tok)
	got := make(chan *Msg, 10)
	sub, err := b.Subscribe(Live(ChannelSubject(tok)), func(m *Msg) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for i := 1; i <= 3; i++ {
		if err := b.Publish(&Msg{Subject: ChannelSubject(tok), Data: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		select {
		case m := <-got:
			if string(m.Data) != strconv.Itoa(i) || m.Header.Get(HeaderSequence) != strconv.Itoa(i) ||
				m.Header.Get(HeaderStream) != l.Stream.Name || m.Subject != Live(ChannelSubject(tok)) {
				t.Fatalf("message %d: %s data %q seq %q stream %q", i, m.Subject, m.Data, m.Header.Get(HeaderSequence), m.Header.Get(HeaderStream))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d not republished", i)
		}
	}
	if l.Stream.Epoch == "" {
		t.Fatal("empty epoch")
	}
}

func TestEpochSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b, err := Start(context.Background(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s1 := b.Log(KindNamespace, "chat").Stream
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b2 := startBus(t, Config{DataDir: dir})
	s2 := b2.Log(KindNamespace, "chat").Stream
	if s1.Epoch != s2.Epoch {
		t.Fatalf("epoch %q became %q after restart", s1.Epoch, s2.Epoch)
	}
}

func TestNATSListenerRequiresCredentials(t *testing.T) {
	if _, err := Start(context.Background(), Config{DataDir: t.TempDir(), NATSAddr: "0.0.0.0:0"}); !errors.Is(err, ErrAuthRequired) {
		t.Fatalf("non-loopback without auth: err = %v", err)
	}
	b := startBus(t, Config{NATSAddr: "127.0.0.1:0", NATSUser: "u", NATSPassword: "p"})
	url := b.ClientURL()
	if url == "" {
		t.Fatal("no client URL")
	}
	if nc, err := nats.Connect(url, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("credential-less TCP connection was accepted")
	}
	nc, err := nats.Connect(url, nats.UserInfo("u", "p"))
	if err != nil {
		t.Fatalf("with credentials: %v", err)
	}
	nc.Close()
}

func TestCloseIsIdempotent(t *testing.T) {
	b, err := Start(context.Background(), Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b.Ready() {
		t.Fatal("ready after close")
	}
}
