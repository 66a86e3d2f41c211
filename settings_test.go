package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/wstest"
)

// TestJWTAudienceAndIssuer: with --auth-jwt-audience and --auth-jwt-issuer,
// a token signed with the right key but for another service, from another
// issuer, or without aud or iss is refused (Socket.IO and plain WebSocket).
func TestJWTAudienceAndIssuer(t *testing.T) {
	s := startServer(t, func(c *config) {
		c.AuthJWTKey, c.AuthJWTAudience, c.AuthJWTIssuer = testJWTSecret, "chat", "https://id.example"
	})
	token := func(claims jwt.MapClaims) string {
		claims["sub"], claims["exp"] = "alice", time.Now().Add(time.Hour).Unix()
		return signHS(t, testJWTSecret, claims)
	}
	good := token(jwt.MapClaims{"aud": "chat", "iss": "https://id.example"})
	c := wstest.Dial(t, s.ws("/ws/lobby?token="+good))
	c.Close()
	sio := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	sio.ConnectID(t, "/", `{"token":"`+good+`"}`)
	for name, claims := range map[string]jwt.MapClaims{
		"another service": {"aud": "billing", "iss": "https://id.example"},
		"another issuer":  {"aud": "chat", "iss": "https://other.example"},
		"no aud":          {"iss": "https://id.example"},
		"no iss":          {"aud": "chat"},
	} {
		tok := token(claims)
		if c, resp, err := wstest.TryDial(s.ws("/ws/lobby?token=" + tok)); err == nil {
			c.Close()
			t.Errorf("%s: upgraded", name)
		} else if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %v %v, want 401", name, resp, err)
		}
		if got := sio.Connect(t, "/chat", `{"token":"`+tok+`"}`); got != `4/chat,{"data":{"status":401},"message":"invalid token"}` {
			t.Errorf("%s: Socket.IO connect answered %q", name, got)
		}
	}
}

// TestSecretsNotInOutputOrLogs: `sockbus config print` hides passwords in
// URLs, and a node that cannot reach its --nats-url says so without the
// URL's password, in its error and its logs.
func TestSecretsNotInOutputOrLogs(t *testing.T) {
	var out, errOut bytes.Buffer
	st := cli([]string{"config", "print", "--routes", "nats-route://route:pw-route@10.0.0.2:6222",
		"--cluster-user", "route", "--cluster-password", "pw-cluster", "--auth-jwt-key", "pw-0123456789abcdef0123456789abcdef"}, nil, &out, &errOut)
	if st != 0 || strings.Contains(out.String(), "pw-") || !strings.Contains(out.String(), "nats-route://route:<hidden>@10.0.0.2:6222") {
		t.Fatalf("config print: %d %q\n%s", st, errOut.String(), out.String())
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens there now
	var logs lockedBuffer
	cfg := defaultConfig()
	cfg.Addr, cfg.DataDir, cfg.LogLevel, cfg.logOut = "127.0.0.1:0", t.TempDir(), "debug", &logs
	cfg.NATSURL, cfg.NATSUser, cfg.NATSPassword = "nats://app:pw-url@"+closed, "app", "pw-user"
	err = run(context.Background(), cfg)
	if err == nil || strings.Contains(err.Error(), "pw-") || strings.Contains(logs.String(), "pw-") {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
}
