package app

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/natstest"
	"github.com/sockbus/sockbus/internal/wstest"
	"github.com/sockbus/sockbus/wsedge"
)

// mintCLI runs `sockbus token args...` as a user would and returns stdout,
// stderr and the exit status.
func mintCLI(t *testing.T, environ []string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	status := Main(append([]string{"token"}, args...), environ, &out, &errOut)
	return strings.TrimSpace(out.String()), errOut.String(), status
}

// dialStatus dials path and returns 101 when the upgrade succeeded (the
// connection is closed again), or the HTTP status of the refusal.
func dialStatus(t *testing.T, s *testServer, path string) int {
	t.Helper()
	c, resp, err := wstest.TryDial(s.ws(path))
	if err == nil {
		c.Close()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	return resp.StatusCode
}

// TestTokenCommandHMAC: `sockbus token` with the server's key (from the
// environment, as SOCKBUS_AUTH_JWT_KEY) and its aud/iss mints a token a
// running server accepts with sub as the user; its --allow-channels claim
// is enforced; a token minted with another key, or one past its --ttl, is
// refused; without a key the command refuses to mint.
func TestTokenCommandHMAC(t *testing.T) {
	const aud, iss = "sockbus-test", "https://id.example"
	s := startServer(t, withNATS, func(c *config) {
		c.AuthJWTKey, c.AuthJWTAudience, c.AuthJWTIssuer = testJWTSecret, aud, iss
	})
	env := []string{"SOCKBUS_AUTH_JWT_KEY=" + testJWTSecret}
	token, errOut, status := mintCLI(t, env, "--sub", "alice", "--ttl", "1h",
		"--auth-jwt-audience", aud, "--auth-jwt-issuer="+iss, "--allow-channels", "lobby,game.*")
	if status != 0 {
		t.Fatalf("sockbus token: status %d: %s", status, errOut)
	}

	sub := natstest.SubscribeSync(t, s.backend(t), "sockbus.live.ws.lobby")
	c := wstest.Dial(t, s.ws("/ws/lobby?token="+token))
	c.SendText(t, "hi")
	m, err := sub.NextMsg(10 * time.Second)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get(wsedge.HeaderUser); got != "alice" {
		t.Fatalf("%s = %q, want alice", wsedge.HeaderUser, got)
	}
	if got := dialStatus(t, s, "/ws/private?token="+token); got != http.StatusForbidden {
		t.Errorf("a channel outside --allow-channels: status %d, want 403", got)
	}

	// Without the aud the server requires, the token is refused: the
	// command copies the server's settings, it does not invent them.
	noAud, _, _ := mintCLI(t, env, "--sub", "alice", "--auth-jwt-issuer", iss)
	if got := dialStatus(t, s, "/ws/lobby?token="+noAud); got != http.StatusUnauthorized {
		t.Errorf("token without aud: status %d, want 401", got)
	}
	other, _, _ := mintCLI(t, []string{"SOCKBUS_AUTH_JWT_KEY=" + strings.Repeat("x", 40)},
		"--sub", "alice", "--auth-jwt-audience", aud, "--auth-jwt-issuer", iss)
	if got := dialStatus(t, s, "/ws/lobby?token="+other); got != http.StatusUnauthorized {
		t.Errorf("token from another key: status %d, want 401", got)
	}
	short, _, _ := mintCLI(t, env, "--sub", "alice", "--ttl", "1s",
		"--auth-jwt-audience", aud, "--auth-jwt-issuer", iss)
	if got := dialStatus(t, s, "/ws/lobby?token="+short); got != http.StatusSwitchingProtocols {
		t.Fatalf("fresh 1s token: status %d, want accepted", got)
	}
	eventually.True(t, 10*time.Second, "the 1s token refused once expired", func() bool {
		return dialStatus(t, s, "/ws/lobby?token="+short) == http.StatusUnauthorized
	})

	out, errOut, status := mintCLI(t, nil, "--sub", "alice")
	if status == 0 || out != "" || !strings.Contains(errOut, "no --auth-jwt-key") {
		t.Errorf("without a key: status %d, stdout %q, stderr %q; want a refusal", status, out, errOut)
	}
	if _, errOut, status := mintCLI(t, env); status == 0 || !strings.Contains(errOut, "--sub") {
		t.Errorf("without --sub: status %d, stderr %q; want a refusal", status, errOut)
	}
}

// TestTokenCommandPublicKey: with --auth-jwt-key @public.pem the command
// needs the private key (--private-key @file); with it, an ES256 token is
// accepted by the running server; another private key is refused by the
// command itself, before it prints anything.
func TestTokenCommandPublicKey(t *testing.T) {
	dir := t.TempDir()
	writeKey := func(name string) (priv, pub string) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		p8, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		px, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
		if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: px}), 0o644); err != nil {
			t.Fatal(err)
		}
		return priv, pub
	}
	priv, pub := writeKey("server")
	otherPriv, _ := writeKey("other")
	s := startServer(t, func(c *config) { c.AuthJWTKey = "@" + pub })

	out, errOut, status := mintCLI(t, nil, "--sub", "bob", "--auth-jwt-key", "@"+pub)
	if status == 0 || out != "" || !strings.Contains(errOut, "--private-key") {
		t.Errorf("public key only: status %d, stdout %q, stderr %q; want a refusal naming --private-key", status, out, errOut)
	}
	out, errOut, status = mintCLI(t, nil, "--sub", "bob", "--auth-jwt-key", "@"+pub, "--private-key", "@"+otherPriv)
	if status == 0 || out != "" {
		t.Errorf("another private key: status %d, stdout %q, stderr %q; want a refusal", status, out, errOut)
	}
	token, errOut, status := mintCLI(t, nil, "--private-key", "@"+priv, "--sub", "bob", "--auth-jwt-key", "@"+pub)
	if status != 0 {
		t.Fatalf("sockbus token: status %d: %s", status, errOut)
	}
	if got := dialStatus(t, s, "/ws/lobby?token="+token); got != http.StatusSwitchingProtocols {
		t.Errorf("ES256 token: status %d, want accepted", got)
	}
}
