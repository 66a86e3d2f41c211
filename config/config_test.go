package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/assets"
	"github.com/sockbus/sockbus/auth"
	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/handlers"
	"github.com/sockbus/sockbus/health"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

func load(t *testing.T, args, environ []string) (Config, Origins, error) {
	t.Helper()
	return Load("sockbus", args, environ, io.Discard)
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	cfg, origins, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Fatalf("got %+v, want Default()", cfg)
	}
	if origins["addr"] != "default" {
		t.Fatalf("origin = %q", origins["addr"])
	}
}

// Flags beat the environment, which beats the file, which beats defaults;
// each layer is seen on a key of its own too.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, "sockbus.yaml", "replicas: 2\nlog-level: warn\nhistory-max-msgs: 10\nnode-name: from-file\n")
	env := []string{"SOCKBUS_REPLICAS=3", "SOCKBUS_LOG_LEVEL=error", "SOCKBUS_CONFIG=" + file, "SOCKBUS_HISTORY_MAX_MSGS=20"}
	cfg, origins, err := load(t, []string{"--replicas", "4"}, env)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		got, want any
		origin    string
	}{
		"replicas":         {cfg.Replicas, int64(4), "flag --replicas"},
		"log-level":        {cfg.LogLevel, "error", "env SOCKBUS_LOG_LEVEL"},
		"history-max-msgs": {cfg.HistoryMaxMsgs, int64(20), "env SOCKBUS_HISTORY_MAX_MSGS"},
		"node-name":        {cfg.NodeName, "from-file", "file " + file},
		"addr":             {cfg.Addr, ":3000", "default"},
	}
	for key, w := range want {
		if w.got != w.want || origins[key] != w.origin {
			t.Errorf("%s = %v from %q, want %v from %q", key, w.got, origins[key], w.want, w.origin)
		}
	}
}

func TestTOMLFileAndConfigFlagBeatsEnv(t *testing.T) {
	yml := writeFile(t, "a.yaml", "replicas: 2\n")
	toml := writeFile(t, "b.toml", "replicas = 3\nhistory-max-age = \"1h\"\n")
	cfg, _, err := load(t, []string{"-config", toml}, []string{"SOCKBUS_CONFIG=" + yml})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Replicas != 3 || cfg.HistoryMaxAge != time.Hour {
		t.Fatalf("got replicas %d, history-max-age %v", cfg.Replicas, cfg.HistoryMaxAge)
	}
}

func TestBadEnvOverriddenByFlagIsFine(t *testing.T) {
	cfg, _, err := load(t, []string{"--replicas=3", "--recovery-window=0"},
		[]string{"SOCKBUS_REPLICAS=lots", "SOCKBUS_RECOVERY_WINDOW=soon"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Replicas != 3 || cfg.RecoveryWindow != 0 {
		t.Fatalf("got %d %v", cfg.Replicas, cfg.RecoveryWindow)
	}
}

// Every bad value names its key, its origin and the valid range.
func TestValidationMessages(t *testing.T) {
	file := writeFile(t, "bad.yaml", "replicas: 9\n")
	cases := []struct {
		args, env []string
		want      string
	}{
		{[]string{"--replicas", "7"}, nil, `replicas "7" (flag --replicas): must be 1..5`},
		{[]string{"--replicas", "0"}, nil, `must be 1..5`},
		{nil, []string{"SOCKBUS_REPLICAS=x"}, `replicas "x" (env SOCKBUS_REPLICAS): want a whole number, 1..5`},
		{[]string{"--config", file}, nil, `replicas 9 (file ` + file + `): must be 1..5`},
		{[]string{"--max-message-bytes", "0"}, nil, `must be 1..67108864`},
		{[]string{"--history-max-msgs", "-2"}, nil, `must be at least -1`},
		{[]string{"--shared-streams", "65"}, nil, `shared-streams "65" (flag --shared-streams): must be 1..64`},
		{[]string{"--legacy-streams", "drop"}, nil, `must be one of keep, delete`},
		{[]string{"--history-max-age", "-1s"}, nil, `must be at least 0s`},
		{[]string{"--shutdown-timeout", "0s"}, nil, `shutdown-timeout "0s" (flag --shutdown-timeout): must be 1ms..1h`},
		{[]string{"--shutdown-timeout", "ten"}, nil, `want a duration such as 10s`},
		{[]string{"--log-level", "loud"}, nil, `must be one of debug, info, warn, error`},
		{[]string{"--log-format", "xml"}, nil, `must be one of text, json`},
		{[]string{"--addr", "3000"}, nil, `addr "3000" (flag --addr): must be host:port`},
		{[]string{"--nats-addr", "localhost"}, nil, `must be host:port`},
		{[]string{"--socketio-path", "/io"}, nil, `must start and end with /`},
		{[]string{"--data-dir", ""}, nil, `data-dir "" (flag --data-dir): must not be empty`},
		{[]string{"--nats-user", "u"}, nil, `set both or neither`},
		{[]string{"--cluster-name", "c"}, nil, `needs cluster-addr and node-name`},
		{[]string{"--tls-cert", "c.pem"}, nil, `tls-cert (flag --tls-cert) and tls-key (default): set both or neither`},
		{[]string{"--cluster-password", "p"}, nil, `set both or neither`},
		{[]string{"--cluster-tls-cert", "c.pem", "--cluster-tls-key", "k.pem"}, nil, `cluster-tls-cert (flag --cluster-tls-cert), cluster-tls-key (flag --cluster-tls-key) and cluster-tls-ca (default): set all three or none`},
		{[]string{"--nope"}, nil, `flag provided but not defined: -nope`},
		{[]string{"stray"}, nil, `unexpected argument "stray"`},
	}
	for _, c := range cases {
		_, _, err := load(t, c.args, c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: err = %v, want %q", c.args, c.env, err, c.want)
		}
	}
}

func TestFileErrors(t *testing.T) {
	cases := map[string]string{
		writeFile(t, "typo.yaml", "replica: 3\n"):    `unknown key "replica"`,
		writeFile(t, "x.ini", "replicas=3\n"):        `unknown format`,
		writeFile(t, "broken.toml", "replicas = \n"): `failed to parse config file`,
		filepath.Join(t.TempDir(), "missing.yaml"):   `failed to read config file`,
	}
	for path, want := range cases {
		if _, _, err := load(t, []string{"--config", path}, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", path, err, want)
		}
	}
}

// An old name still works as flag, environment variable and file key.
func TestAlias(t *testing.T) {
	file := writeFile(t, "old.yaml", "cors-origins: https://file\n")
	for _, c := range []struct {
		args, env []string
		want      string
	}{
		{[]string{"--cors-origins", "https://flag"}, nil, "https://flag"},
		{nil, []string{"SOCKBUS_CORS_ORIGINS=https://env"}, "https://env"},
		{[]string{"--config", file}, nil, "https://file"},
	} {
		cfg, origins, err := load(t, c.args, c.env)
		if err != nil || len(cfg.CORSOrigins) != 1 || cfg.CORSOrigins[0] != c.want || origins["allowed-origins"] == "default" {
			t.Errorf("%v %v: %q from %q, %v", c.args, c.env, cfg.CORSOrigins, origins["allowed-origins"], err)
		}
	}
}

func TestUnknownEnvIgnored(t *testing.T) {
	if _, _, err := load(t, nil, []string{"SOCKBUS_URL=http://x", "SOCKBUS_BIN=/x"}); err != nil {
		t.Fatal(err)
	}
}

// The default file documents every key and reads back as Default(); the
// printed effective configuration reads back as itself.
func TestEveryKeyRoundTrips(t *testing.T) {
	var def bytes.Buffer
	if err := WriteDefault(&def); err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys() {
		if !strings.Contains(def.String(), "\n"+k+": ") || !strings.Contains(def.String(), "flag --"+k+"; env "+envName(k)) {
			t.Errorf("default file lacks key %s", k)
		}
	}
	cfg, origins, err := load(t, []string{"--config", writeFile(t, "def.yaml", def.String())}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Fatalf("default file reads back as %+v", cfg)
	}
	if origins["replicas"] == "default" {
		t.Fatal("default file was not read")
	}

	// A value for every key, different from its default, through the file.
	changed := Default()
	v := reflect.ValueOf(&changed).Elem()
	for _, f := range fields {
		fv := v.Field(f.index)
		if f.secret || f.key == "nats-user" || f.key == "cluster-user" || f.key == "tls-cert" || f.key == "tls-key" ||
			strings.HasPrefix(f.key, "cluster-tls-") || strings.HasPrefix(f.key, "auth-jwt-") { // secrets print hidden; pairs need both; aud/iss need the key
			continue
		}
		if f.key == "nats-url" { // excludes nats-addr and cluster-name (TestNATSURLExcludesEmbedded)
			continue
		}
		switch {
		case f.kind == durationType:
			fv.SetInt(fv.Int() + int64(time.Second))
		case fv.Kind() == reflect.String:
			switch f.key {
			case "log-level":
				fv.SetString("debug")
			case "log-format":
				fv.SetString("json")
			case "legacy-streams":
				fv.SetString("delete")
			case "socketio-path":
				fv.SetString("/io/")
			default:
				if f.check == "addr" {
					fv.SetString("127.0.0.1:9")
				} else {
					fv.SetString("x")
				}
			}
		case fv.Kind() == reflect.Bool:
			fv.SetBool(!fv.Bool())
		case f.kind == listType:
			fv.Set(reflect.ValueOf(append(fv.Interface().([]string), "x", "y")))
		default:
			fv.SetInt(fv.Int() + 1)
		}
	}
	var printed bytes.Buffer
	if err := Print(&printed, changed, nil); err != nil {
		t.Fatal(err)
	}
	back, _, err := load(t, []string{"--config", writeFile(t, "eff.yaml", printed.String())}, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, printed.String())
	}
	if !reflect.DeepEqual(back, changed) {
		t.Fatalf("printed config reads back as\n%+v\nwant\n%+v", back, changed)
	}
}

func TestPrintHidesSecrets(t *testing.T) {
	cfg, origins, err := load(t, []string{"--nats-user", "ops", "--nats-password", "s3cret"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Print(&out, cfg, origins); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "s3cret") || !strings.Contains(out.String(), `nats-password: "<hidden>"  # flag --nats-password`) {
		t.Fatalf("printed:\n%s", out.String())
	}
}

func TestHelpShowsDefaultsAndRanges(t *testing.T) {
	var out bytes.Buffer
	_, _, err := Load("sockbus", []string{"-h"}, nil, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"--replicas int", "range 1..5; env SOCKBUS_REPLICAS; default 1", "--config FILE", "default 10s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

// The help shows each setting's default as the package that owns it
// defines it (config.Default builds from those packages, no second copy).
func TestHelpShowsPackageDefaults(t *testing.T) {
	var out bytes.Buffer
	if _, _, err := Load("sockbus", []string{"-h"}, nil, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	help := out.String()
	for key, def := range map[string]string{
		"socketio-path":        socketio.DefaultPath,
		"replicas":             strconv.Itoa(bus.DefaultReplicas),
		"legacy-streams":       bus.DefaultLegacyStreams,
		"store-timeout":        bus.DefaultStoreTimeout.String(),
		"history-max-msgs":     strconv.Itoa(bus.DefaultHistoryMaxMsgs),
		"max-history":          strconv.Itoa(wsedge.DefaultMaxHistory),
		"recovery-window":      socketio.DefaultRecoveryWindow.String(),
		"max-rooms-per-socket": strconv.Itoa(socketio.DefaultMaxRooms),
		"http-body-timeout":    engine.DefaultBodyReadTimeout.String(),
		"ready-interval":       health.DefaultInterval.String(),
		"auth-hook-subject":    auth.HookSubject,
		"auth-hook-headers":    strings.Join(auth.DefaultHookHeaders(), ","),
		"admin-ui-dir":         assets.AdminUIPackage.NodeModulesDir(),
		"admin-max-sessions":   strconv.Itoa(handlers.DefaultAdminConfig().MaxSessions),
		"admin-login-window":   handlers.DefaultAdminConfig().LoginWindow.String(),
	} {
		i := strings.Index(help, "  --"+key+" ")
		if i < 0 {
			t.Errorf("help lacks --%s", key)
			continue
		}
		line := help[i:]
		line = line[:strings.Index(line, ")\n")+1]
		if !strings.Contains(line, "default "+def+")") {
			t.Errorf("--%s: help says %q, want default %s", key, line, def)
		}
	}
}

// List settings are parsed here, the same from every source: comma-separated
// in flags and the environment (blanks dropped), a list or a string in the file.
func TestListSettings(t *testing.T) {
	file := writeFile(t, "l.yaml", "own-namespaces: [\"/chat\", \"/news\"]\nchannels: \"lobby, game.*\"\n")
	cfg, _, err := load(t, []string{"--config", file, "--routes", " nats-route://a:6222, ,nats-route://b:6222,"},
		[]string{"SOCKBUS_ALLOWED_ORIGINS=https://a.example,https://b.example"})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ got, want []string }{
		"own-namespaces":  {cfg.OwnNamespaces, []string{"/chat", "/news"}},
		"channels":        {cfg.Channels, []string{"lobby", "game.*"}},
		"routes":          {cfg.Routes, []string{"nats-route://a:6222", "nats-route://b:6222"}},
		"allowed-origins": {cfg.CORSOrigins, []string{"https://a.example", "https://b.example"}},
		"own-channels":    {cfg.OwnChannels, nil},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %q, want %q", name, c.got, c.want)
		}
	}
	if _, _, err := load(t, []string{"--config", writeFile(t, "b.yaml", "namespaces: [{a: 1}]\n")}, nil); err == nil || !strings.Contains(err.Error(), "namespaces") {
		t.Fatalf("a map in a list: err = %v", err)
	}
	if cfg, _, err := load(t, []string{"--auth-hook-headers", ""}, nil); err != nil || cfg.AuthHookHeaders != nil {
		t.Fatalf("--auth-hook-headers '': %q %v", cfg.AuthHookHeaders, err)
	}
}

func TestNATSURLExcludesEmbedded(t *testing.T) {
	for _, args := range [][]string{
		{"--nats-url", "nats://n1:4222", "--nats-addr", "127.0.0.1:4222"},
		{"--nats-url", "nats://n1:4222", "--cluster-name", "c", "--cluster-addr", "127.0.0.1:6222", "--node-name", "a"},
		{"--nats-url", "nats://n1:4222", "--nats-tls-cert", "c.pem"},
	} {
		if _, _, err := load(t, args, nil); err == nil || !strings.Contains(err.Error(), "nats-") {
			t.Errorf("%v: err = %v", args, err)
		}
	}
	cfg, _, err := load(t, []string{"--nats-url", "nats://n1:4222,nats://n2:4222", "--nats-creds", "u.creds"}, nil)
	if err != nil || cfg.NATSURL != "nats://n1:4222,nats://n2:4222" || cfg.NATSCreds != "u.creds" {
		t.Fatalf("%+v %v", cfg, err)
	}
}

func TestJWTAudienceAndIssuerNeedTheKey(t *testing.T) {
	for _, args := range [][]string{{"--auth-jwt-audience", "chat"}, {"--auth-jwt-issuer", "https://id.example"}} {
		if _, _, err := load(t, args, nil); err == nil || !strings.Contains(err.Error(), "need auth-jwt-key") {
			t.Errorf("%v: err = %v", args, err)
		}
	}
	cfg, _, err := load(t, []string{"--auth-jwt-key", "@keys.pem", "--auth-jwt-audience", "chat", "--auth-jwt-issuer", "https://id.example"}, nil)
	if err != nil || cfg.AuthJWTAudience != "chat" || cfg.AuthJWTIssuer != "https://id.example" {
		t.Fatalf("%+v %v", cfg, err)
	}
}

// TestSecretsNeverShown: config print hides passwords and tokens inside
// URLs, and an error about a secret setting does not quote its value.
func TestSecretsNeverShown(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--routes", "nats-route://route:pw-r0ute@10.0.0.2:6222,nats-route://10.0.0.3:6222", "--cluster-user", "route", "--cluster-password", "pw-cluster"},
			`routes: "nats-route://route:<hidden>@10.0.0.2:6222,nats-route://10.0.0.3:6222"`},
		{[]string{"--nats-url", "nats://app:pw-n%40ts@n1:4222,tls://tok-t0ken@n2:4222", "--nats-user", "app", "--nats-password", "pw-nats"},
			`nats-url: "nats://app:<hidden>@n1:4222,tls://<hidden>@n2:4222"`},
	} {
		cfg, origins, err := load(t, tc.args, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := Print(&out, cfg, origins); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "pw-") || strings.Contains(out.String(), "tok-") || !strings.Contains(out.String(), tc.want) {
			t.Errorf("printed a secret, or not %s:\n%s", tc.want, out.String())
		}
	}
	for _, body := range []string{
		"auth-jwt-key: [\"sec-0123456789abcdef0123456789abcdef\"]\n",
		"nats-password: {sec: \"sec-nats\"}\n",
		"admin-password-hash: [\"sec-hash\"]\n",
	} {
		_, _, err := load(t, []string{"--config", writeFile(t, "s.yaml", body)}, nil)
		if err == nil || strings.Contains(err.Error(), "sec-") || !strings.Contains(err.Error(), "<hidden>") {
			t.Errorf("%q: err = %v", body, err)
		}
	}
}
