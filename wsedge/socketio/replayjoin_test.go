package socketio

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/siotest"
)

// A live copy of an event the recovery replay already sent, arriving after
// the replay ended (the live stream lags the store the replay reads: seen
// in bench/run.sh --scenarios storm), is not sent again; the next event is.
func TestLateLiveCopyOfReplayedEventIsDropped(t *testing.T) {
	e := newRecoveryEnv(t, Config{})
	_, pid, offset := e.dropped(t)
	n := e.srv.Of("/m")
	if err := n.Emit("ev", 2); err != nil { // missed while dropped: stored
		t.Fatal(err)
	}
	c := siotest.Dial(t, e.url, "/socket.io/")
	auth, _ := json.Marshal(map[string]string{"token": "alice", "pid": pid, "offset": offset})
	c.Send(t, "0/m,"+string(auth))
	replayed := c.NextText(t, wait) // the missed event, before the CONNECT reply
	var args []any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(replayed, "2/m,")), &args); err != nil || len(args) != 3 || args[1] != 2.0 {
		t.Fatalf("replayed %q (%v)", replayed, err)
	}
	_, seqStr, _ := strings.Cut(args[2].(string), ".")
	seq, err := strconv.ParseUint(seqStr, 10, 64)
	if err != nil {
		t.Fatalf("offset %v", args[2])
	}
	if reply := c.NextText(t, wait); !strings.HasPrefix(reply, "0/m,") {
		t.Fatalf("CONNECT reply %q", reply)
	}
	<-e.conns
	live := func(seq uint64, v string) {
		n.deliver(&bus.Msg{Subject: n.liveBase + "all.ev", Header: bus.Header{bus.HeaderSequence: []string{strconv.FormatUint(seq, 10)}},
			Data: []byte("[" + v + "]")})
	}
	live(seq, "2") // the late live copy of the replayed event
	live(seq+1, "3")
	got := c.NextText(t, wait)
	if !strings.HasPrefix(got, `2/m,["ev",3`) {
		t.Fatalf("after the replay the client got %q, want the next event (the replayed one was sent again)", got)
	}
	c.Quiet(t, 200*time.Millisecond)
}
