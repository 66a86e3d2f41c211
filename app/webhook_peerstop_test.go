package app

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/siotest"
)

// TestWebhookPeerStopIsQuiet: one node of three stops (a rolling
// restart's step) while the others wait on the webhook queues, some led
// by it: they ask the queues' new leaders again without a warning (they
// logged "webhook queue unreadable" and paused a second for "server
// shutdown" and "no responders"), and an event after the stop is
// delivered.
func TestWebhookPeerStopIsQuiet(t *testing.T) {
	r := newReceiver(t, nil)
	var logs [3]lockedBuffer
	servers := startCluster(t, 3, webhookTo(r.url), func(c *config) {
		for i := range logs {
			if c.NodeName == fmt.Sprintf("node-%d", i) {
				c.logOut = &logs[i]
			}
		}
	})
	c := siotest.Dial(t, "http://"+servers[0].addr, "/socket.io/")
	c.ConnectID(t, "/", "")
	r.waitFor(t, 1, 10*time.Second)
	servers[2].stop(t)
	c.Emit(t, "/", "after", "1")
	r.waitFor(t, 2, 10*time.Second)
	for i := range 2 {
		if out := logs[i].String(); strings.Contains(out, "webhook queue unreadable") {
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, "webhook queue unreadable") {
					t.Errorf("node %d warned while a peer stopped: %s", i, l)
				}
			}
		}
	}
}
