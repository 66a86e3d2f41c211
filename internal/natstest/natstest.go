package natstest

import (
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// User and Password are the credentials Start's server requires.
const (
	User     = "edge"
	Password = "s3cret-edge-password"
)

// Start runs a nats-server with JetStream on a temp dir, listening on
// 127.0.0.1 (a port the OS picks) for User/Password only. conf, when not
// empty, is extra server configuration text (e.g. a mappings block) read
// as a config file; mutate may change the options last (other users, TLS).
// The server stops when the test ends.
func Start(t testing.TB, conf string, mutate ...func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{}
	if conf != "" {
		path := t.TempDir() + "/nats.conf"
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		o, err := server.ProcessConfigFile(path)
		if err != nil {
			t.Fatalf("nats config: %v", err)
		}
		opts = o
	}
	opts.ServerName = "external"
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.JetStream, opts.StoreDir = true, t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	opts.Users = []*server.User{{Username: User, Password: Password}}
	for _, m := range mutate {
		m(opts)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}
