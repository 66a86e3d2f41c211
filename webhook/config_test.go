package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
)

func TestParseEvents(t *testing.T) {
	all, err := ParseEvents(nil)
	if err != nil || !all.Connect || !all.Disconnect || !all.Join || !all.Leave || !all.sendsEvent("x") {
		t.Fatalf("empty list = %+v, %v; want everything", all, err)
	}
	e, err := ParseEvents([]string{"connect", "event:chat.*", "event:ping"})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Connect || e.Disconnect || e.Join || e.Leave {
		t.Fatalf("types = %+v, want connect only", e)
	}
	for name, want := range map[string]bool{"chat.message": true, "ping": true, "pong": false, "chat": false} {
		if got := e.sendsEvent(name); got != want {
			t.Errorf("sendsEvent(%q) = %v, want %v", name, got, want)
		}
	}
	if e, _ := ParseEvents([]string{"event", "event:x"}); !e.sendsEvent("y") {
		t.Error("a bare event selects every client event, patterns or not")
	}
	if _, err := ParseEvents([]string{"connect", "conect"}); err == nil {
		t.Error("an unknown type is accepted")
	}
}

func TestWithIDAndSign(t *testing.T) {
	body := withID("ep-7", []byte(`{"type":"connect","user":null}`))
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m["id"] != "ep-7" || m["type"] != "connect" {
		t.Fatalf("withID = %s (%v)", body, err)
	}
	if got := string(withID("ep-8", []byte(`{}`))); got != `{"id":"ep-8"}` {
		t.Fatalf("withID of {} = %s", got)
	}
	mac := hmac.New(sha256.New, []byte("k"))
	mac.Write(body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); Sign("k", body) != want {
		t.Fatalf("Sign = %s, want %s", Sign("k", body), want)
	}
	if Sign("", body) != "" {
		t.Fatal("no secret, yet a signature")
	}
}

func TestRedact(t *testing.T) {
	if got := redact("https://u:p@example.com/hook?token=s#f"); got != "https://example.com/hook" {
		t.Fatalf("redact = %s", got)
	}
}
