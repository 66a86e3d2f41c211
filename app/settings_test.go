package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sockbus/sockbus/internal/loopback"
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
	st := Main([]string{"config", "print", "--routes", "nats-route://route:pw-route@10.0.0.2:6222",
		"--cluster-user", "route", "--cluster-password", "pw-cluster", "--auth-jwt-key", "pw-0123456789abcdef0123456789abcdef"}, nil, &out, &errOut)
	if st != 0 || strings.Contains(out.String(), "pw-") || !strings.Contains(out.String(), "nats-route://route:<hidden>@10.0.0.2:6222") {
		t.Fatalf("config print: %d %q\n%s", st, errOut.String(), out.String())
	}

	closed := loopback.FreeAddrs(t, 1)[0] // nothing listens there
	var logs lockedBuffer
	cfg := defaultConfig()
	cfg.Addr, cfg.DataDir, cfg.LogLevel, cfg.logOut = "127.0.0.1:0", t.TempDir(), "debug", &logs
	cfg.NATSURL, cfg.NATSUser, cfg.NATSPassword = "nats://app:pw-url@"+closed, "app", "pw-user"
	err := run(context.Background(), cfg)
	if err == nil || strings.Contains(err.Error(), "pw-") || strings.Contains(logs.String(), "pw-") {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
}

// TestBadSettingsStopBeforeAnythingStarts: a bad auth, admin, TLS or path
// setting stops run with its error before the data dir is created and
// before any port is opened: --addr and --nats-addr are ports this test
// holds, so reaching a listener would fail with "address already in use"
// instead, and the data dir must not exist afterwards.
func TestBadSettingsStopBeforeAnythingStarts(t *testing.T) {
	held := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln.Addr().String()
	}
	addr, natsAddr := held(), held()
	for _, tc := range []struct {
		name   string
		mutate func(*config)
		want   string
	}{
		{"short JWT key", func(c *config) { c.AuthJWTKey = "sec-short" }, "bad --auth-jwt-key: an HMAC secret must be at least 32 bytes"},
		{"missing key file", func(c *config) { c.AuthJWTKey = "@" + filepath.Join(t.TempDir(), "nope.pem") }, "failed to read the JWT key file"},
		{"hash not bcrypt", func(c *config) { c.AdminUI, c.AdminUser, c.AdminPasswordHash = true, "ops", "sec-plain" }, "not a bcrypt hash"},
		{"admin user without hash", func(c *config) { c.AdminUI, c.AdminUser = true, "ops" }, "set both --admin-user and --admin-password-hash"},
		{"missing TLS files", func(c *config) { c.TLSCert, c.TLSKey = "/nonexistent/cert.pem", "/nonexistent/key.pem" }, "failed to load --tls-cert/--tls-key"},
		{"socketio path under /ws/", func(c *config) { c.SocketIOPath = "/ws/" }, "/ws/ is the plain WebSocket channels' path"},
		{"socketio path under /admin/", func(c *config) { c.AdminUI, c.SocketIOPath = true, "/admin/" }, "serves the admin UI's files"},
		{"socketio path / with the demo", func(c *config) { c.SocketIOPath = "/" }, "the demo page's /"},
		{"socketio path under /api/v1/", func(c *config) { c.APIKey, c.SocketIOPath = []string{"sec-0123456789abcdef"}, "/api/v1/io/" }, "the HTTP server API's"},
		{"short API key", func(c *config) { c.APIKey = []string{"sec-0123456789abcdef", "sec-short"} }, "bad --api-key: failed to read API keys: a key is shorter than 16 bytes"},
		{"missing API key file", func(c *config) { c.APIKey = []string{"@" + filepath.Join(t.TempDir(), "nope")} }, "bad --api-key: failed to read API keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Addr, cfg.NATSAddr, cfg.NATSUser, cfg.NATSPassword = addr, natsAddr, "ops", "pw"
			cfg.DataDir, cfg.LogLevel, cfg.logOut = filepath.Join(t.TempDir(), "data"), "error", io.Discard
			tc.mutate(&cfg)
			err := run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "sec-") {
				t.Fatalf("run: %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("data dir touched: %v", err)
			}
		})
	}
	// The same paths elsewhere are fine: /admin/ without --admin-ui, / without the demo.
	for _, mutate := range []func(*config){
		func(c *config) { c.SocketIOPath = "/admin/" },
		func(c *config) { c.SocketIOPath, c.Demo = "/", false },
	} {
		cfg := defaultConfig()
		mutate(&cfg)
		if err := checkSocketIOPath(cfg); err != nil {
			t.Errorf("%s refused: %v", cfg.SocketIOPath, err)
		}
	}
}

// TestPublicMetricsWarning: with client authentication on and /metrics on
// --addr, the start warns; with --metrics-addr, or no authentication, not.
func TestPublicMetricsWarning(t *testing.T) {
	const warning = "/metrics answers anyone on --addr"
	for _, tc := range []struct {
		name   string
		mutate func(*config)
		warned bool
	}{
		{"jwt, metrics on addr", func(c *config) { c.AuthJWTKey = testJWTSecret }, true},
		{"hook, metrics on addr", func(c *config) { c.AuthHook = true }, true},
		{"jwt, metrics-addr", func(c *config) { c.AuthJWTKey, c.MetricsAddr = testJWTSecret, "127.0.0.1:0" }, false},
		{"open", func(c *config) {}, false},
	} {
		var logs lockedBuffer
		s := startServer(t, tc.mutate, func(c *config) { c.logOut = &logs })
		s.stop(t)
		if got := strings.Contains(logs.String(), warning); got != tc.warned {
			t.Errorf("%s: warned %v, want %v:\n%s", tc.name, got, tc.warned, logs.String())
		}
	}
}

// --history-max-age 0 means no limit, as its help says; the bus's own 0
// would be its 24h default.
func TestHistoryMaxAgeZeroIsNoLimit(t *testing.T) {
	c := defaultConfig().Config
	if got := busConfig(c, nil).History.MaxAge; got != c.HistoryMaxAge {
		t.Fatalf("default: bus MaxAge %v, want %v", got, c.HistoryMaxAge)
	}
	c.HistoryMaxAge = 0
	if got := busConfig(c, nil).History.MaxAge; got >= 0 {
		t.Fatalf("--history-max-age 0: bus MaxAge %v, want negative (no limit)", got)
	}
}
