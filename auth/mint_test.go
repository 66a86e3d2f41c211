package auth

import (
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
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestMintVerifies: every key type NewVerifier reads signs a token Verify
// accepts with the same claims (sub, aud, iss, scope), from each private
// key PEM form; a mismatched private key or a missing one is an error.
func TestMintVerifies(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, blk := range blocks {
			b = append(b, pem.EncodeToMemory(blk)...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return "@" + p
	}
	pubPEM := func(k crypto.PublicKey) *pem.Block {
		b, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return &pem.Block{Type: "PUBLIC KEY", Bytes: b}
	}
	pkcs8 := func(k crypto.PrivateKey) *pem.Block {
		b, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return &pem.Block{Type: "PRIVATE KEY", Bytes: b}
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ec384)

	type pair struct{ key, private, alg string }
	for name, p := range map[string]pair{
		"HMAC":           {key: strings.Repeat("s", 32), alg: "HS256"},
		"RSA PKCS#1":     {write("rsa.pub", pubPEM(&rsaKey.PublicKey)), write("rsa1.key", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), "RS256"},
		"RSA PKCS#8":     {write("rsa8.pub", pubPEM(&rsaKey.PublicKey)), write("rsa8.key", pkcs8(rsaKey)), "RS256"},
		"EC P-384 SEC1":  {write("ec.pub", pubPEM(&ec384.PublicKey)), write("ec.key", &pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), "ES384"},
		"Ed25519":        {write("ed.pub", pubPEM(edKey.Public())), write("ed.key", pkcs8(edKey)), "EdDSA"},
		"second PEM key": {write("two.pub", pubPEM(&ec256.PublicKey), pubPEM(&rsaKey.PublicKey)), write("two.key", pkcs8(rsaKey)), "RS256"},
	} {
		m := Mint{Subject: "alice", TTL: time.Hour, Audience: "svc", Issuer: "idp",
			Scope: &Scope{Namespaces: Patterns{"/chat*"}, Channels: Patterns{}}}
		token, err := m.Sign(p.key, p.private, WithAudience("svc"), WithIssuer("idp"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		v, _ := NewVerifier(p.key, WithAudience("svc"), WithIssuer("idp"))
		c, err := v.Verify(token)
		if err != nil {
			t.Errorf("%s: Verify: %v", name, err)
			continue
		}
		if c.Subject != "alice" || !slices.Equal(c.Audience, []string{"svc"}) || c.Issuer != "idp" ||
			c.Sockbus == nil || !c.Sockbus.Namespaces.Match("/chat-1") || c.Sockbus.Channels == nil || c.Sockbus.Channels.Match("lobby") {
			t.Errorf("%s: claims %+v scope %+v", name, c.RegisteredClaims, c.Sockbus)
		}
		if got := time.Until(c.ExpiresAt.Time); got < 59*time.Minute || got > time.Hour {
			t.Errorf("%s: expires in %v, want about an hour", name, got)
		}
		if !strings.Contains(token, ".") || !strings.HasPrefix(token, "ey") {
			t.Errorf("%s: not a JWT: %q", name, token)
		}
		if tok, _, err := jwt.NewParser().ParseUnverified(token, &Claims{}); err != nil || tok.Method.Alg() != p.alg {
			t.Errorf("%s: alg %v (%v), want %s", name, tok.Header["alg"], err, p.alg)
		}
	}

	rsaPub := write("only.pub", pubPEM(&rsaKey.PublicKey))
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, tc := range map[string]struct {
		m             Mint
		key, private  string
		wantInMessage string
	}{
		"no key":            {Mint{Subject: "a", TTL: time.Hour}, "", "", "no --auth-jwt-key"},
		"no subject":        {Mint{TTL: time.Hour}, strings.Repeat("s", 32), "", "--sub"},
		"no lifetime":       {Mint{Subject: "a"}, strings.Repeat("s", 32), "", "--ttl"},
		"public key only":   {Mint{Subject: "a", TTL: time.Hour}, rsaPub, "", "--private-key"},
		"other private key": {Mint{Subject: "a", TTL: time.Hour}, rsaPub, write("other.key", pkcs8(other)), "not the pair"},
		"HMAC and a file":   {Mint{Subject: "a", TTL: time.Hour}, strings.Repeat("s", 32), rsaPub, "HMAC"},
		"public as private": {Mint{Subject: "a", TTL: time.Hour}, rsaPub, rsaPub, "not a private key"},
	} {
		token, err := tc.m.Sign(tc.key, tc.private)
		if err == nil || token != "" || !strings.Contains(err.Error(), tc.wantInMessage) {
			t.Errorf("%s: token %q, err %v; want an error mentioning %q", name, token, err, tc.wantInMessage)
		}
	}

	// A JWKS: the token names the matching key's kid, which Verify picks.
	b64 := base64.RawURLEncoding
	ecBytes, _ := ec256.PublicKey.Bytes()
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "r", "n": b64.EncodeToString(rsaKey.N.Bytes()), "e": b64.EncodeToString([]byte{1, 0, 1})},
		{"kty": "EC", "kid": "e", "crv": "P-256", "x": b64.EncodeToString(ecBytes[1:33]), "y": b64.EncodeToString(ecBytes[33:])},
	}})
	jwksPath := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(jwksPath, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	token, err := Mint{Subject: "a", TTL: time.Hour}.Sign("@"+jwksPath, write("jwks-ec.key", pkcs8(ec256)))
	if err != nil {
		t.Fatal(err)
	}
	if tok, _, err := jwt.NewParser().ParseUnverified(token, &Claims{}); err != nil || tok.Header["kid"] != "e" || tok.Method.Alg() != "ES256" {
		t.Errorf("JWKS token header %v (%v), want kid e, ES256", tok.Header, err)
	}

	// A backdated token is minted (for tests) and Verify calls it expired.
	key := strings.Repeat("s", 32)
	token, err = Mint{Subject: "a", TTL: time.Minute, Now: time.Now().Add(-time.Hour)}.Sign(key, "")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(key)
	if _, err := v.Verify(token); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("backdated token: %v, want ErrTokenExpired", err)
	}
}
