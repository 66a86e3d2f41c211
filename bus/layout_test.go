package bus

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func streamNames(t *testing.T, b *Bus) []string {
	t.Helper()
	var names []string
	l := b.js.StreamNames(context.Background())
	for n := range l.Name() {
		names = append(names, n)
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// The streams are fixed at start by the layout: publishing on thousands of
// names adds none, and each name lands in the stream Log names.
func TestLayoutIsFixedByConfiguration(t *testing.T) {
	b := startBus(t, Config{Layout: LayoutConfig{SharedStreams: 3, OwnNamespaces: []string{"/chat"}, OwnChannels: []string{"lobby"}}})
	before := streamNames(t, b)
	if len(before) != 5 {
		t.Fatalf("streams at start = %v, want 3 shared + 2 own", before)
	}
	for i := range 2000 {
		tok := "x" + strconv.Itoa(i)
		for _, subj := range []string{"sockbus.io." + tok + ".all.ev", ChannelSubject(tok)} {
			if err := b.Publish(&Msg{Subject: subj, Data: []byte("1")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	wctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.WaitStored(wctx); err != nil {
		t.Fatal(err)
	}
	if after := streamNames(t, b); len(after) != len(before) {
		t.Fatalf("streams after 4,000 names: %d, want %d", len(after), len(before))
	}
	ctx := context.Background()
	var total uint64
	for k := range 3 {
		info, err := b.layout.shared[k].JS.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			t.Errorf("shared stream %d got nothing: the hash does not spread names", k)
		}
		total += info.State.Msgs
	}
	if total != 4000 {
		t.Fatalf("shared streams hold %d messages, want 4000", total)
	}
	if l := b.Log(KindNamespace, "chat"); !l.Own || l.Stream.Name != "SOCKBUS_OWN_IO_chat" {
		t.Fatalf("declared namespace log = %+v", l)
	}
	if l := b.Log(KindChannel, "chat"); l.Own {
		t.Fatalf("channel chat is not declared, got its own stream %s", l.Stream.Name)
	}
}

// A backend publishing on a public subject through the embedded server's
// mappings stores exactly where the node would: same stream, same stored
// subject, so one filtered read finds both.
func TestBackendPublishesLandInTheNodesLog(t *testing.T) {
	b := startBus(t, Config{Layout: LayoutConfig{SharedStreams: 5, OwnNamespaces: []string{"/own"}, OwnChannels: []string{"mine"}}})
	ctx := context.Background()
	names := []struct {
		kind Kind
		tok  string
		subj string
	}{
		{KindNamespace, "own", "sockbus.io.own.all.ev"},
		{KindChannel, "mine", ChannelSubject("mine")},
	}
	for i := range 40 {
		tok := "n" + strconv.Itoa(i) + "%2E"
		names = append(names,
			struct {
				kind Kind
				tok  string
				subj string
			}{KindNamespace, tok, "sockbus.io." + tok + ".room.r.ev"},
			struct {
				kind Kind
				tok  string
				subj string
			}{KindChannel, tok, ChannelSubject(tok)})
	}
	for _, n := range names {
		// As a backend: plain NATS publish with a reply for the store ack.
		msg, err := b.nc.Request(n.subj, []byte("backend"), 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", n.subj, err)
		}
		if !bytes.Contains(msg.Data, []byte(`"stream"`)) {
			t.Fatalf("%s: not stored: %s", n.subj, msg.Data)
		}
		// As the node.
		if err := b.Publish(&Msg{Subject: n.subj, Data: []byte("node")}); err != nil {
			t.Fatal(err)
		}
		if err := b.WaitStored(ctx); err != nil {
			t.Fatal(err)
		}
		l := b.Log(n.kind, n.tok)
		info, err := l.Stream.JS.Info(ctx, jetstream.WithSubjectFilter(l.Filter))
		if err != nil {
			t.Fatal(err)
		}
		if len(info.State.Subjects) != 1 {
			t.Fatalf("%s: log %s %s holds %v, want one subject", n.subj, l.Stream.Name, l.Filter, info.State.Subjects)
		}
		for stored, count := range info.State.Subjects {
			if count != 2 {
				t.Fatalf("%s: %d messages on %s, want the backend's and the node's", n.subj, count, stored)
			}
			if stored != b.StoreSubject(n.subj) || PublicSubject(stored) != n.subj {
				t.Fatalf("stored on %s; StoreSubject says %s; PublicSubject gives %s", stored, b.StoreSubject(n.subj), PublicSubject(stored))
			}
		}
	}
}

func TestStoreSubjectLeavesOtherSubjects(t *testing.T) {
	b := &Bus{cfg: Config{Layout: LayoutConfig{SharedStreams: 4}}, layout: &layout{shared: make([]*Stream, 4), own: map[string]*Stream{}}}
	for _, s := range []string{"sockbus.live.io.a.all.e", "sockbus.in.a.e", "sockbus.io.", "sockbus.io.a", "other.io.a.b", "sockbus.ws."} {
		if got := b.StoreSubject(s); got != s {
			t.Errorf("StoreSubject(%q) = %q, want unchanged", s, got)
		}
	}
	if got := b.StoreSubject("sockbus.io.a.all.e"); !strings.HasPrefix(got, storePrefix) || PublicSubject(got) != "sockbus.io.a.all.e" {
		t.Errorf("StoreSubject = %q", got)
	}
}

// A data dir of the per-name layout: its streams are left alone (and said
// so in one line) or deleted on request.
func TestLegacyStreamsKeptOrDeleted(t *testing.T) {
	dir := t.TempDir()
	b := startBus(t, Config{DataDir: dir})
	for _, name := range []string{"SOCKBUS_IO_chat", "SOCKBUS_WS_lobby"} {
		subj := "sockbus.io.chat.>"
		if strings.HasPrefix(name, "SOCKBUS_WS_") {
			subj = "sockbus.ws.lobby"
		}
		if _, err := b.js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{subj}, Storage: jetstream.FileStorage}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"keep", "delete"} {
		var logs bytes.Buffer
		b2, err := Start(context.Background(), Config{DataDir: dir, Layout: LayoutConfig{LegacyStreams: mode},
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		names := strings.Join(streamNames(t, b2), " ")
		_ = b2.Close(context.Background())
		kept := strings.Contains(names, "SOCKBUS_IO_chat") && strings.Contains(names, "SOCKBUS_WS_lobby")
		if kept != (mode == "keep") || !strings.Contains(logs.String(), "per-name layout") || !strings.Contains(logs.String(), "count=2") {
			t.Fatalf("%s: streams %s; log %s", mode, names, logs.String())
		}
	}
}

// History.MaxAge: zero is the default, negative is no limit (the stream's
// MaxAge 0); the duplicate window then stays the resend window.
func TestHistoryMaxAge(t *testing.T) {
	for _, tc := range []struct {
		set, want time.Duration
	}{{0, DefaultHistoryMaxAge}, {-1, 0}, {time.Hour, time.Hour}} {
		b := startBus(t, Config{History: HistoryConfig{MaxAge: tc.set}})
		info, err := b.layout.shared[0].JS.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.Config.MaxAge != tc.want || info.Config.Duplicates <= 0 || tc.want > 0 && info.Config.Duplicates > tc.want {
			t.Errorf("MaxAge %v: stream MaxAge %v, Duplicates %v; want MaxAge %v", tc.set, info.Config.MaxAge, info.Config.Duplicates, tc.want)
		}
	}
}
