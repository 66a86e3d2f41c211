package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Mint describes a token for `sockbus token`: the claims Verify reads,
// so that this file and jwt.go are the only places that know their shape.
type Mint struct {
	Subject string        // sub: the socket's user
	TTL     time.Duration // exp is now+TTL; must be positive
	// Audience and Issuer become aud and iss when set (copy
	// --auth-jwt-audience and --auth-jwt-issuer so the server accepts it).
	Audience, Issuer string
	// Scope, when set, becomes the "sockbus" claim; nil allows every name.
	Scope *Scope
	// Now is the issue time; zero means time.Now().
	Now time.Time
}

// Sign mints a token. key is what --auth-jwt-key holds for an HMAC
// secret (signed HS256); for public-key verification the server's key file
// cannot sign, so signingKey must name the matching private key as @file
// (PEM: PKCS#8 "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY"; RS256,
// ES256/384/512 or EdDSA by key type). The token is checked against
// NewVerifier(key, opts...) before it is returned, so a private key that
// does not match the server's public keys is an error, not a token the
// server would refuse.
func (m Mint) Sign(key, signingKey string, opts ...Option) (string, error) {
	if key == "" {
		return "", errors.New("no --auth-jwt-key configured: the server accepts every client, there is nothing to mint for")
	}
	if m.Subject == "" {
		return "", errors.New("a subject (--sub) is required")
	}
	if m.TTL <= 0 {
		return "", errors.New("the lifetime (--ttl) must be positive")
	}
	v, err := NewVerifier(key, opts...)
	if err != nil {
		return "", fmt.Errorf("failed to read --auth-jwt-key: %w", err)
	}
	method, priv, err := signer(key, signingKey)
	if err != nil {
		return "", err
	}
	now := m.Now
	if now.IsZero() {
		now = time.Now()
	}
	c := Claims{Sockbus: m.Scope, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   m.Subject,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(m.TTL)),
		Issuer:    m.Issuer,
	}}
	if m.Audience != "" {
		c.Audience = jwt.ClaimStrings{m.Audience}
	}
	t := jwt.NewWithClaims(method, c)
	if s, ok := priv.(crypto.Signer); ok {
		kid, found := v.kidOf(s.Public())
		if !found {
			return "", errors.New("the private key is not the pair of any public key in --auth-jwt-key")
		}
		if kid != "" { // the verifier picks a key by kid; "" is its first PEM key
			t.Header["kid"] = kid
		}
	}
	token, err := t.SignedString(priv)
	if err != nil {
		return "", fmt.Errorf("failed to sign the token: %w", err)
	}
	// A backdated token (Now set, for tests) may rightly be expired already.
	if _, err := v.Verify(token); err != nil && !(errors.Is(err, ErrTokenExpired) && !m.Now.IsZero()) {
		return "", fmt.Errorf("the minted token does not pass --auth-jwt-key (is the private key the pair of its public key?): %w", err)
	}
	return token, nil
}

// kidOf finds the verifier's key equal to pub.
func (v *Verifier) kidOf(pub crypto.PublicKey) (kid string, found bool) {
	for kid, k := range v.keys {
		if e, ok := k.(interface{ Equal(crypto.PublicKey) bool }); ok && e.Equal(pub) {
			return kid, true
		}
	}
	return "", false
}

// MarshalJSON keeps the difference Verify reads: a nil list is left out
// (every name), an empty one is written as [] (no name).
func (s Scope) MarshalJSON() ([]byte, error) {
	m := map[string]Patterns{}
	if s.Namespaces != nil {
		m["namespaces"] = s.Namespaces
	}
	if s.Channels != nil {
		m["channels"] = s.Channels
	}
	if s.Rooms != nil {
		m["rooms"] = s.Rooms
	}
	return json.Marshal(m)
}

// signer picks the signing method and key: the HMAC secret itself, or the
// private key file named by signingKey.
func signer(key, signingKey string) (jwt.SigningMethod, any, error) {
	if !strings.HasPrefix(key, "@") {
		if signingKey != "" {
			return nil, nil, errors.New("--auth-jwt-key is an HMAC secret: it signs the token itself, a private key is not used")
		}
		return jwt.SigningMethodHS256, []byte(key), nil
	}
	if !strings.HasPrefix(signingKey, "@") {
		return nil, nil, errors.New("--auth-jwt-key names public keys, which cannot sign: pass the matching private key as --private-key @file.pem")
	}
	raw, err := os.ReadFile(signingKey[1:])
	if err != nil {
		return nil, nil, fmt.Errorf("failed to read the private key: %w", err)
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		return nil, nil, fmt.Errorf("no PEM block in %s", signingKey[1:])
	}
	var k crypto.PrivateKey
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		return nil, nil, fmt.Errorf("PEM block %q is not a private key", b.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("failed to parse the private key: %w", err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return jwt.SigningMethodRS256, k, nil
	case *ecdsa.PrivateKey:
		switch k.Curve.Params().BitSize {
		case 256:
			return jwt.SigningMethodES256, k, nil
		case 384:
			return jwt.SigningMethodES384, k, nil
		case 521:
			return jwt.SigningMethodES512, k, nil
		}
		return nil, nil, fmt.Errorf("unsupported EC curve %s", k.Curve.Params().Name)
	case ed25519.PrivateKey:
		return jwt.SigningMethodEdDSA, k, nil
	}
	return nil, nil, fmt.Errorf("unsupported private key type %T", k)
}
