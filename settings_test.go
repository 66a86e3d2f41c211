package main

import (
	"net/http"
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
