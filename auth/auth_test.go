package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sockbus/sockbus/wsedge"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pat, name string
		want      bool
	}{
		{"/chat", "/chat", true},
		{"/chat", "/chat2", false},
		{"/chat*", "/chat", true},
		{"/chat*", "/chat/a.b", true},
		{"*", "", true},
		{"game.*", "game.1", true},
		{"game.*", "games.1", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"*a*a*a*a*a*b", strings.Repeat("a", 255), false}, // linear, not exponential
	} {
		if got := glob(tc.pat, tc.name); got != tc.want {
			t.Errorf("glob(%q, %q) = %v", tc.pat, tc.name, got)
		}
	}
	if (Patterns{}).Match("x") {
		t.Error("an empty list matched")
	}
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return "@" + p
}

func pemOf(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TestAsymmetricKeys: RS256, ES256 and EdDSA tokens verify against a PEM
// public key and against a JWKS; another key of the same kind is refused.
func TestAsymmetricKeys(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b64 := base64.RawURLEncoding
	ecPub := ecKey.Public().(*ecdsa.PublicKey)
	ecBytes, _ := ecPub.Bytes() // 0x04 || X || Y
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "r", "n": b64.EncodeToString(rsaKey.N.Bytes()), "e": b64.EncodeToString([]byte{1, 0, 1})},
		{"kty": "EC", "kid": "e", "crv": "P-256", "x": b64.EncodeToString(ecBytes[1:33]), "y": b64.EncodeToString(ecBytes[33:])},
		{"kty": "OKP", "kid": "d", "crv": "Ed25519", "x": b64.EncodeToString(edKey.Public().(ed25519.PublicKey))},
	}})
	claims := jwt.MapClaims{"sub": "bob", "exp": time.Now().Add(time.Hour).Unix()}
	sign := func(m jwt.SigningMethod, kid string, key crypto.Signer) string {
		tok := jwt.NewWithClaims(m, claims)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		file   []byte
		method jwt.SigningMethod
		kid    string
		key    crypto.Signer
	}{
		{"RS256 PEM", pemOf(t, rsaKey.Public()), jwt.SigningMethodRS256, "", rsaKey},
		{"ES256 PEM", pemOf(t, ecKey.Public()), jwt.SigningMethodES256, "", ecKey},
		{"EdDSA PEM", pemOf(t, edKey.Public()), jwt.SigningMethodEdDSA, "", edKey},
		{"RS256 JWKS", jwks, jwt.SigningMethodRS256, "r", rsaKey},
		{"ES256 JWKS", jwks, jwt.SigningMethodES256, "e", ecKey},
		{"EdDSA JWKS", jwks, jwt.SigningMethodEdDSA, "d", edKey},
	} {
		v, err := NewVerifier(writeFile(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c, err := v.Verify(sign(tc.method, tc.kid, tc.key))
		if err != nil || c.Subject != "bob" {
			t.Errorf("%s: %v %+v", tc.name, err, c)
		}
		if tc.method == jwt.SigningMethodES256 {
			if _, err := v.Verify(sign(tc.method, tc.kid, otherEC)); !errors.Is(err, ErrTokenInvalid) {
				t.Errorf("%s: another key's token: %v", tc.name, err)
			}
		}
	}
	// An HMAC token must not verify against a public key used as a secret.
	v, _ := NewVerifier(writeFile(t, pemOf(t, rsaKey.Public())))
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(pemOf(t, rsaKey.Public()))
	if _, err := v.Verify(hs); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("HS256 against an RSA key: %v", err)
	}
	if _, err := NewVerifier("short"); err == nil {
		t.Error("a short HMAC secret was accepted")
	}
	priv, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	if _, err := NewVerifier(writeFile(t, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}))); err == nil {
		t.Error("a private key file was accepted")
	}
}

// TestNamesThatExist: --namespaces/--channels refuse other names with 404
// before any token is looked at.
func TestNamesThatExist(t *testing.T) {
	a := New(Config{Namespaces: Patterns{"/", "/chat*"}, Channels: Patterns{"lobby"}})
	ctx := context.Background()
	for _, tc := range []struct {
		kind wsedge.AuthKind
		name string
		ok   bool
	}{
		{wsedge.AuthNamespace, "/", true}, {wsedge.AuthNamespace, "/chatroom", true}, {wsedge.AuthNamespace, "/admin", false},
		{wsedge.AuthChannel, "lobby", true}, {wsedge.AuthChannel, "/", false},
	} {
		_, err := a.Authorize(ctx, wsedge.AuthRequest{Kind: tc.kind, Name: tc.name})
		var r *wsedge.ConnectError
		if tc.ok != (err == nil) || (!tc.ok && (!errors.As(err, &r) || r.Status != http.StatusNotFound)) {
			t.Errorf("%s %q: %v", tc.kind, tc.name, err)
		}
	}
	if !a.Open() {
		t.Error("names alone reported as authenticated")
	}
}

// TestAudienceAndIssuer: with WithAudience and WithIssuer a token needs
// both claims, with those values; a token for another service or from
// another issuer, or one without the claims, is refused.
func TestAudienceAndIssuer(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	v, err := NewVerifier(secret, WithAudience("chat"), WithIssuer("https://id.example"))
	if err != nil {
		t.Fatal(err)
	}
	open, _ := NewVerifier(secret)
	exp := time.Now().Add(time.Hour).Unix()
	for _, tc := range []struct {
		name   string
		claims jwt.MapClaims
		ok     bool
	}{
		{"right aud and iss", jwt.MapClaims{"aud": "chat", "iss": "https://id.example"}, true},
		{"aud list containing it", jwt.MapClaims{"aud": []string{"billing", "chat"}, "iss": "https://id.example"}, true},
		{"another service", jwt.MapClaims{"aud": "billing", "iss": "https://id.example"}, false},
		{"another issuer", jwt.MapClaims{"aud": "chat", "iss": "https://evil.example"}, false},
		{"no aud", jwt.MapClaims{"iss": "https://id.example"}, false},
		{"no iss", jwt.MapClaims{"aud": "chat"}, false},
	} {
		tc.claims["sub"], tc.claims["exp"] = "bob", exp
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tc.claims).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(tok)
		if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrTokenInvalid)) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if _, err := open.Verify(tok); err != nil {
			t.Errorf("%s: refused without the requirements: %v", tc.name, err)
		}
	}
}

// TestOwnLogin: a namespace with its own login (the admin UI's) is
// admitted without a token and past the names list; the same name as a
// channel, and every other name, still meet the checks. A refusal is the
// edge's own *wsedge.ConnectError, its cause reachable with errors.Is.
func TestOwnLogin(t *testing.T) {
	v, err := NewVerifier("0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{JWT: v, Namespaces: Patterns{"/"}, OwnLogin: Patterns{"/admin"}})
	ctx := context.Background()
	if _, err := a.Authorize(ctx, wsedge.AuthRequest{Kind: wsedge.AuthNamespace, Name: "/admin"}); err != nil {
		t.Fatalf("/admin: %v", err)
	}
	var ce *wsedge.ConnectError
	if _, err := a.Authorize(ctx, wsedge.AuthRequest{Kind: wsedge.AuthChannel, Name: "/admin"}); !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized {
		t.Fatalf("channel /admin: %v", err)
	}
	if _, err := a.Authorize(ctx, wsedge.AuthRequest{Kind: wsedge.AuthNamespace, Name: "/chat"}); !errors.As(err, &ce) || ce.Status != http.StatusNotFound {
		t.Fatalf("/chat: %v", err)
	}
	_, err = a.Authorize(ctx, wsedge.AuthRequest{Kind: wsedge.AuthNamespace, Name: "/"})
	if !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized || !errors.Is(err, ErrTokenMissing) {
		t.Fatalf("/ without a token: %v", err)
	}
}

// A token's sockbus.rooms become the grant's ClientRooms (the rooms the
// client may join itself); a token without them grants none.
func TestTokenClientRooms(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef-rooms"
	v, err := NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{JWT: v})
	sign := func(claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := time.Now().Add(time.Hour).Unix()
	g, err := a.Authorize(context.Background(), wsedge.AuthRequest{Kind: wsedge.AuthNamespace, Name: "/",
		Token: sign(jwt.MapClaims{"sub": "ada", "exp": exp, "sockbus": map[string]any{"rooms": []string{"team-{user}", "lobby"}}})})
	if err != nil || strings.Join(g.ClientRooms, ",") != "team-{user},lobby" || g.User != "ada" {
		t.Fatalf("grant %+v (%v)", g, err)
	}
	g, err = a.Authorize(context.Background(), wsedge.AuthRequest{Kind: wsedge.AuthNamespace, Name: "/",
		Token: sign(jwt.MapClaims{"sub": "ada", "exp": exp})})
	if err != nil || g.ClientRooms != nil {
		t.Fatalf("grant without rooms %+v (%v)", g, err)
	}
}
