package app

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestSocketIOSlowConsumerReconnects runs test/slow with the official
// socket.io-client: a client that stops reading gets WebSocket close 1008
// "slow consumer", then reconnects by itself and recovers its session.
func TestSocketIOSlowConsumerReconnects(t *testing.T) {
	node := needNode(t)
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "test/slow/")
	cmd.Env = append(os.Environ(), "SOCKBUS_URL=http://"+s.addr)
	out, err := runNodeSuite(t, cmd)
	if err != nil {
		t.Fatalf("node slow-consumer test failed: %v\n%s", err, out)
	}
	t.Logf("node slow-consumer test passed:\n%s", lastLines(string(out), 8))
}
