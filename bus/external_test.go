package bus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/sockbus/sockbus/internal/loopback"
	"github.com/sockbus/sockbus/internal/natstest"
)

func startExternalBus(t *testing.T, url string, mutate ...func(*Config)) *Bus {
	t.Helper()
	cfg := Config{
		DataDir:  filepath.Join(t.TempDir(), "never-created"),
		External: ExternalConfig{URL: url, User: natstest.User, Password: natstest.Password},
		Layout:   LayoutConfig{SharedStreams: 2, OwnNamespaces: []string{"/chat"}},
	}
	for _, m := range mutate {
		m(&cfg)
	}
	b, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("close bus: %v", err)
		}
	})
	if _, err := os.Stat(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data dir %s: %v, want it never created", cfg.DataDir, err)
	}
	return b
}

// TestExternalNATS: a bus on an external nats-server creates the layout's
// streams there, stores and republishes like the embedded one, and a second
// bus adopts the same streams (same epochs).
func TestExternalNATS(t *testing.T) {
	ns := natstest.Start(t, "")
	a := startExternalBus(t, ns.ClientURL())
	if !a.External() || a.DataDir() != "" || !a.Ready() {
		t.Fatalf("External %v, DataDir %q, Ready %v", a.External(), a.DataDir(), a.Ready())
	}
	if _, ok := a.StoreBytes(); ok || a.ClusterPeers() != 0 {
		t.Fatal("an edge reports store bytes or cluster peers of its own")
	}
	if err := a.CheckStore(context.Background()); err != nil {
		t.Fatalf("CheckStore: %v", err)
	}
	if got := a.ClientURL(); !strings.HasPrefix(got, "nats://") || strings.Contains(got, natstest.Password) {
		t.Fatalf("ClientURL %q: want the server's URL without the password", got)
	}
	var names []string
	for n := range a.JetStream().StreamNames(context.Background()).Name() {
		names = append(names, n)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "SOCKBUS_OWN_IO_chat,SOCKBUS_SHARED_0,SOCKBUS_SHARED_1" {
		t.Fatalf("streams on the external server: %v", names)
	}
	b := startExternalBus(t, ns.ClientURL())
	if a.Log(KindNamespace, "x").Epoch() != b.Log(KindNamespace, "x").Epoch() {
		t.Fatal("second edge created its own stream instead of adopting the first's")
	}
	if a.NodeID() == b.NodeID() {
		t.Fatalf("two edges share node id %s", a.NodeID())
	}

	live, err := b.SubscribeSync(LivePrefix + "io.x.>")
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.publishAsync(&Msg{Subject: "sockbus.io.x.all.ev", Data: []byte(`[1]`)})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ack := <-f.Ok():
		if ack.Stream != a.Log(KindNamespace, "x").Stream.Name {
			t.Fatalf("stored in %s", ack.Stream)
		}
	case err := <-f.Err():
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("no store ack")
	}
	m, err := live.NextTimeout(5 * time.Second)
	if err != nil || m.Subject != "sockbus.live.io.x.all.ev" || string(m.Data) != "[1]" {
		t.Fatalf("live copy on the other edge: %v %v", m, err)
	}
}

// TestExternalPresence: on an external NATS the nodes present on a subject
// are counted by asking them; nobody present is known without waiting.
func TestExternalPresence(t *testing.T) {
	ns := natstest.Start(t, "")
	url := ns.ClientURL()
	buses := []*Bus{startExternalBus(t, url), startExternalBus(t, url), startExternalBus(t, url)}
	subj := PresenceSubject("room")
	start := time.Now()
	if n := buses[0].Interest(subj); n != 0 {
		t.Fatalf("Interest with nobody present = %d", n)
	}
	if d := time.Since(start); d > maxPresenceWait/2 {
		t.Fatalf("nobody present took %v to learn", d)
	}
	if !buses[0].HasInterest("sockbus.in.x.y") {
		t.Fatal("HasInterest on an external NATS must be true (it cannot be seen)")
	}
	var subs []*Subscription
	for i, b := range buses {
		s, err := b.SubscribePresence(subj)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
		for _, asker := range buses {
			if n := asker.Interest(subj); n != i+1 {
				t.Fatalf("with %d nodes present, Interest = %d", i+1, n)
			}
		}
	}
	_ = subs[1].Unsubscribe()
	start = time.Now()
	if n := buses[1].Interest(subj); n != 2 {
		t.Fatalf("after one node left, Interest = %d, want 2", n)
	}
	if d := time.Since(start); d < DefaultPresenceWait {
		t.Fatalf("counted in %v, under the %v it waits after the last answer", d, DefaultPresenceWait)
	}
	// --nats-presence-wait: a longer wait for one more answer.
	slow := startExternalBus(t, url, func(c *Config) { c.External.PresenceWait = 300 * time.Millisecond })
	start = time.Now()
	if n := slow.Interest(subj); n != 2 {
		t.Fatalf("Interest with a 300ms wait = %d, want 2", n)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("counted in %v with a 300ms wait", d)
	}
}

// TestExternalConfigErrors: wrong combinations are refused before any
// connection, each with a message naming the flags.
func TestExternalConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"nats-addr", Config{NATSAddr: "127.0.0.1:0"}, "--nats-addr"},
		{"cluster", Config{Cluster: ClusterConfig{Name: "c"}}, "--cluster"},
		{"two auths", Config{External: ExternalConfig{User: "u", Password: "p", CredsFile: "x.creds"}}, "use one of"},
		{"half user", Config{External: ExternalConfig{User: "u"}}, "--nats-password"},
		{"half tls", Config{External: ExternalConfig{TLSCert: "c.pem"}}, "--nats-tls-key"},
		{"missing nkey", Config{External: ExternalConfig{NKeySeedFile: "/nonexistent/seed"}}, "--nats-nkey"},
		{"nobody there", Config{External: ExternalConfig{}}, "failed to connect to NATS at nats://xxxxx@"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.External.URL = "nats://u:hidden@127.0.0.1:1"
			cfg.ReadyTimeout = time.Second
			_, err := Start(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "hidden") {
				t.Fatalf("err = %v, want it to name %q and hide the password", err, c.want)
			}
		})
	}
}

// TestMappingsConfig: the block MappingsConfig prints, in an external
// server's configuration, stores a backend's publish on a public subject
// where the edges read it, as the embedded server's own mappings do.
func TestMappingsConfig(t *testing.T) {
	layout := LayoutConfig{SharedStreams: 3}
	block, err := MappingsConfig(layout)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(block, "declared") {
		t.Fatalf("block without declared names mentions them:\n%s", block)
	}
	ns := natstest.Start(t, block)
	b := startExternalBus(t, ns.ClientURL(), func(c *Config) { c.Layout = layout })
	live, err := b.SubscribeSync(LivePrefix + "io.>")
	if err != nil {
		t.Fatal(err)
	}
	backend, err := nats.Connect(ns.ClientURL(), nats.UserInfo(natstest.User, natstest.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	for _, tok := range []string{"a", "news", "z9"} {
		if err := backend.Publish("sockbus.io."+tok+".all.ev", []byte(tok)); err != nil {
			t.Fatal(err)
		}
		m, err := live.NextTimeout(5 * time.Second)
		if err != nil {
			t.Fatalf("backend's publish for %s never delivered: %v", tok, err)
		}
		if m.Subject != "sockbus.live.io."+tok+".all.ev" || m.Header.Get(HeaderStream) != b.Log(KindNamespace, tok).Stream.Name {
			t.Fatalf("delivered %s from stream %s, want %s", m.Subject, m.Header.Get(HeaderStream), b.Log(KindNamespace, tok).Stream.Name)
		}
	}
	withOwn, err := MappingsConfig(LayoutConfig{OwnNamespaces: []string{"/chat"}})
	if err != nil || !strings.Contains(withOwn, "sockbus.store.own.io") || strings.Contains(withOwn, `"sockbus.io.chat.>"`) {
		t.Fatalf("block with a declared namespace (%v):\n%s", err, withOwn)
	}
}

// TestExternalTLSAndNKey: --nats-tls-ca/--nats-tls-cert/--nats-tls-key and
// --nats-nkey reach a server that requires TLS with verified client
// certificates and knows its user by nkey only; without the client
// certificate the same bus is refused.
func TestExternalTLSAndNKey(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir) // server, client and CA at once
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	pub, _ := user.PublicKey()
	seedFile := filepath.Join(dir, "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	ns := natstest.Start(t, "", func(o *server.Options) {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: certFile, KeyFile: keyFile, CaFile: certFile, Verify: true})
		if err != nil {
			t.Fatal(err)
		}
		o.TLSConfig, o.TLS, o.TLSVerify = tc, true, true
		o.Users, o.Nkeys = nil, []*server.NkeyUser{{Nkey: pub}}
	})
	url := "tls://" + ns.Addr().String()
	ext := ExternalConfig{URL: url, NKeySeedFile: seedFile, TLSCA: certFile, TLSCert: certFile, TLSKey: keyFile}
	b := startExternalBus(t, url, func(c *Config) { c.External = ext })
	if err := b.CheckStore(context.Background()); err != nil {
		t.Fatal(err)
	}
	ext.TLSCert, ext.TLSKey = "", ""
	if _, err := Start(context.Background(), Config{External: ext, ReadyTimeout: 2 * time.Second}); err == nil {
		t.Fatal("connected without the client certificate the server requires")
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1, usable by a
// server and a client, and its key.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sockbus-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestExternalNATSCluster: edges on a three-server NATS cluster (not
// sockbus nodes) create the layout's streams there with --replicas 3, and
// what one edge stores reaches another edge connected to another server.
func TestExternalNATSCluster(t *testing.T) {
	routes := loopback.FreeAddrs(t, 3)
	servers := startExtCluster(t, routes, routes)
	a := startExternalBus(t, servers[0].ClientURL(), func(c *Config) { c.Replicas, c.ReadyTimeout = 3, time.Minute })
	b := startExternalBus(t, servers[2].ClientURL(), func(c *Config) { c.Replicas, c.ReadyTimeout = 3, time.Minute })
	for _, s := range append(a.layout.shared, a.layout.own["io.chat"]) {
		info, err := s.JS.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Fatalf("stream %s: %d replicas configured, cluster %+v; want 3 (a leader and 2 replicas)", s.Name, info.Config.Replicas, info.Cluster)
		}
	}
	live, err := b.SubscribeSync(LivePrefix + "io.x.>")
	if err != nil {
		t.Fatal(err)
	}
	// Route interest for b's new subscription reaches the other servers
	// asynchronously (docs/clusters.md, Edges on an existing NATS): publish until it
	// arrives, then check it came from a's stored copy.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := a.Publish(&Msg{Subject: "sockbus.io.x.all.ev", Data: []byte(`[1]`)}); err != nil {
			t.Fatal(err)
		}
		m, err := live.NextTimeout(200 * time.Millisecond)
		if err == nil {
			if m.Header.Get(HeaderStream) != a.Log(KindNamespace, "x").Stream.Name {
				t.Fatalf("delivered from stream %q", m.Header.Get(HeaderStream))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an event stored through server 0 never reached the edge on server 2")
		}
	}
}

// startExtCluster starts three NATS servers clustered as "ext": server i
// listens for routes on listen[i] and is reached by the others at
// reach[i] (its own address, or a proxy in front of it).
func startExtCluster(t *testing.T, listen, reach []string) []*server.Server {
	t.Helper()
	urls := make([]string, len(reach))
	for i, r := range reach {
		urls[i] = "nats-route://" + r
	}
	servers := make([]*server.Server, len(listen))
	for i := range servers {
		servers[i] = natstest.Start(t, "", func(o *server.Options) {
			o.ServerName = "ext" + strconv.Itoa(i)
			o.Cluster.Name = "ext"
			host, port, _ := strings.Cut(listen[i], ":")
			o.Cluster.Host = host
			o.Cluster.Port, _ = strconv.Atoi(port)
			if reach[i] != listen[i] {
				o.Cluster.Advertise = reach[i]
			}
			o.Routes = server.RoutesFromStr(strings.Join(urls, ","))
		})
	}
	return servers
}
