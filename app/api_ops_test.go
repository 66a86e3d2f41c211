package app

import (
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/siotest"
)

// TestAPISocketOperationsIdempotent: join, leave and disconnect retried
// with one Idempotency-Key are stored once and answered the same offset,
// so a retried disconnect does not disconnect the socket that connected
// again in between; another key stores anew.
func TestAPISocketOperationsIdempotent(t *testing.T) {
	s := startAPIServer(t)
	base := "http://" + s.addr
	a := siotest.Dial(t, base, "/socket.io/")
	aID := a.ConnectID(t, "/ops", "")
	call := func(path, body, key string) string {
		t.Helper()
		status, data := apiCall(t, base, "POST", path, testAPIKey, body, "Idempotency-Key", key)
		wantAPI(t, status, data, 200)
		return offsetOf(t, data)
	}
	join := `{"namespace":"/ops","in":["` + aID + `"],"room":"r"}`
	if first, again := call("/api/v1/join", join, "j-1"), call("/api/v1/join", join, "j-1"); first != again {
		t.Fatalf("a retried join answered %s then %s", first, again)
	}
	leave := `{"namespace":"/ops","in":["` + aID + `"],"room":"r"}`
	first := call("/api/v1/leave", leave, "l-1")
	if again := call("/api/v1/leave", leave, "l-1"); again != first {
		t.Fatalf("a retried leave answered %s then %s", first, again)
	}
	if other := call("/api/v1/leave", leave, "l-2"); other == first {
		t.Fatal("another Idempotency-Key answered the same offset")
	}

	// A disconnect of every socket in /ops, then a new socket, then the
	// disconnect retried: stored once, so the new socket stays.
	disc := `{"namespace":"/ops","close":false}`
	first = call("/api/v1/disconnect", disc, "d-1")
	if got := a.NextText(t, wait); got != "1/ops," {
		t.Fatalf("a got %s, want its DISCONNECT", got)
	}
	b := siotest.Dial(t, base, "/socket.io/")
	b.ConnectID(t, "/ops", "")
	if again := call("/api/v1/disconnect", disc, "d-1"); again != first {
		t.Fatalf("a retried disconnect answered %s then %s", first, again)
	}
	call("/api/v1/emit", `{"namespace":"/ops","event":"marker"}`, "m-1")
	if got := b.NextText(t, wait); !strings.HasPrefix(got, `2/ops,["marker"`) {
		t.Fatalf("b got %s, want the marker: the retried disconnect was applied again", got)
	}
	b.Quiet(t, 200*time.Millisecond)
}
