package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are what sockbus reads from a token: the registered claims (sub
// is the user, exp is required) and an optional "sockbus" claim narrowing
// what the token may enter.
type Claims struct {
	jwt.RegisteredClaims
	Sockbus *Scope `json:"sockbus,omitempty"`
}

// Scope lists the namespaces ("/chat", "/room-*") and plain WebSocket
// channels ("lobby", "game.*") a token allows. A nil list allows every
// name (of those the server lets exist); an empty list allows none.
// Rooms lists the Socket.IO rooms the client may join itself
// (sockbus:join; "{user}" stands for sub), besides --client-rooms: nil
// adds none.
type Scope struct {
	Namespaces Patterns `json:"namespaces,omitempty"`
	Channels   Patterns `json:"channels,omitempty"`
	Rooms      Patterns `json:"rooms,omitempty"`
}

// Verifier checks tokens against one key set. Safe for concurrent use.
type Verifier struct {
	keys     map[string]crypto.PublicKey // by kid; "" for a single PEM key
	secret   []byte                      // HMAC
	methods  []string
	audience string // required in aud when set
	issuer   string // required as iss when set
}

// Option adds a requirement to a Verifier.
type Option func(*Verifier)

// WithAudience refuses tokens whose aud claim is missing or does not list
// audience (--auth-jwt-audience): a token the same identity provider
// signed for another service does not get in. "" checks nothing.
func WithAudience(audience string) Option { return func(v *Verifier) { v.audience = audience } }

// WithIssuer refuses tokens whose iss claim is missing or not issuer
// (--auth-jwt-issuer). "" checks nothing.
func WithIssuer(issuer string) Option { return func(v *Verifier) { v.issuer = issuer } }

// NewVerifier reads --auth-jwt-key: a value starting with '@' names a file
// holding PEM public keys or a JWKS document; anything else is an HMAC
// secret (HS256/384/512), at least 32 bytes. Errors never quote the key.
func NewVerifier(key string, opts ...Option) (*Verifier, error) {
	v, err := newVerifier(key)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o(v)
	}
	return v, nil
}

func newVerifier(key string) (*Verifier, error) {
	if !strings.HasPrefix(key, "@") {
		if len(key) < 32 {
			return nil, errors.New("an HMAC secret must be at least 32 bytes")
		}
		return &Verifier{secret: []byte(key), methods: []string{"HS256", "HS384", "HS512"}}, nil
	}
	raw, err := os.ReadFile(key[1:])
	if err != nil {
		return nil, fmt.Errorf("failed to read the JWT key file: %w", err)
	}
	v := &Verifier{keys: map[string]crypto.PublicKey{}}
	if strings.HasPrefix(strings.TrimSpace(string(raw)), "{") {
		err = v.addJWKS(raw)
	} else {
		err = v.addPEM(raw)
	}
	if err != nil {
		return nil, err
	}
	if len(v.keys) == 0 {
		return nil, fmt.Errorf("no public key in %s", key[1:])
	}
	seen := map[string]bool{}
	for _, k := range v.keys {
		for _, m := range methodsFor(k) {
			if !seen[m] {
				seen[m] = true
				v.methods = append(v.methods, m)
			}
		}
	}
	return v, nil
}

func (v *Verifier) addPEM(raw []byte) error {
	for i := 0; ; i++ {
		var b *pem.Block
		b, raw = pem.Decode(raw)
		if b == nil {
			return nil
		}
		var k any
		var err error
		switch b.Type {
		case "PUBLIC KEY":
			k, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(b.Bytes); err == nil {
				k = c.PublicKey
			}
		default:
			return fmt.Errorf("PEM block %q is not a public key (a private key does not belong on the server)", b.Type)
		}
		if err != nil {
			return fmt.Errorf("failed to parse PEM block %d: %w", i, err)
		}
		if methodsFor(k) == nil {
			return fmt.Errorf("PEM block %d: unsupported key type %T", i, k)
		}
		kid := ""
		if i > 0 {
			kid = fmt.Sprint(i)
		}
		v.keys[kid] = k
	}
}

// addJWKS reads RSA, EC (P-256/384/521) and OKP (Ed25519) public keys.
func (v *Verifier) addJWKS(raw []byte) error {
	var set struct {
		Keys []struct {
			Kty, Kid, Crv, Use string
			N, E, X, Y         string
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return fmt.Errorf("failed to parse JWKS: %w", err)
	}
	b64 := base64.RawURLEncoding
	for i, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var pub crypto.PublicKey
		var err error
		switch k.Kty {
		case "RSA":
			var n, e []byte
			if n, err = b64.DecodeString(k.N); err == nil {
				e, err = b64.DecodeString(k.E)
			}
			if err == nil {
				pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
			}
		case "EC":
			var c elliptic.Curve
			switch k.Crv {
			case "P-256":
				c = elliptic.P256()
			case "P-384":
				c = elliptic.P384()
			case "P-521":
				c = elliptic.P521()
			default:
				return fmt.Errorf("JWKS key %d: unsupported curve %q", i, k.Crv)
			}
			var x, y []byte
			if x, err = b64.DecodeString(k.X); err == nil {
				y, err = b64.DecodeString(k.Y)
			}
			if err == nil {
				// ParseUncompressedPublicKey rejects points off the curve.
				pt := append([]byte{4}, append(pad(x, (c.Params().BitSize+7)/8), pad(y, (c.Params().BitSize+7)/8)...)...)
				var pk *ecdsa.PublicKey
				if pk, err = ecdsa.ParseUncompressedPublicKey(c, pt); err == nil {
					pub = pk
				}
			}
		case "OKP":
			if k.Crv != "Ed25519" {
				return fmt.Errorf("JWKS key %d: unsupported curve %q", i, k.Crv)
			}
			var x []byte
			if x, err = b64.DecodeString(k.X); err == nil && len(x) != ed25519.PublicKeySize {
				err = errors.New("wrong Ed25519 key size")
			}
			pub = ed25519.PublicKey(x)
		default:
			return fmt.Errorf("JWKS key %d: unsupported kty %q", i, k.Kty)
		}
		if err != nil {
			return fmt.Errorf("JWKS key %d: %w", i, err)
		}
		v.keys[k.Kid] = pub
	}
	return nil
}

func pad(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	return append(make([]byte, n-len(b)), b...)
}

func methodsFor(k crypto.PublicKey) []string {
	switch k.(type) {
	case *rsa.PublicKey:
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		return []string{"ES256", "ES384", "ES512"}
	case ed25519.PublicKey:
		return []string{"EdDSA"}
	}
	return nil
}

// Errors of Verify, for the client's connect_error.
var (
	ErrTokenMissing = errors.New("token required")
	ErrTokenExpired = errors.New("token expired")
	ErrTokenInvalid = errors.New("invalid token")
)

// Verify checks the signature, exp (required), nbf, and aud and iss when
// the Verifier requires them.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if token == "" {
		return nil, ErrTokenMissing
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(v.methods), jwt.WithExpirationRequired()}
	if v.audience != "" {
		opts = append(opts, jwt.WithAudience(v.audience))
	}
	if v.issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.issuer))
	}
	c := &Claims{}
	_, err := jwt.ParseWithClaims(token, c, v.key, opts...)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrTokenExpired
	default:
		return nil, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
}

func (v *Verifier) key(t *jwt.Token) (any, error) {
	if v.secret != nil {
		return v.secret, nil
	}
	kid, _ := t.Header["kid"].(string)
	if k, ok := v.keys[kid]; ok {
		return k, nil
	}
	if len(v.keys) == 1 && kid == "" {
		for _, k := range v.keys {
			return k, nil
		}
	}
	// Several PEM keys and no kid: try each; jwt/v5 accepts a VerificationKeySet.
	set := jwt.VerificationKeySet{}
	for _, k := range v.keys {
		set.Keys = append(set.Keys, k)
	}
	return set, nil
}
