package randid

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
)

// Hex returns n random bytes as 2n lowercase hex digits.
func Hex(n int) string {
	return hex.EncodeToString(read(n))
}

// URL returns n random bytes in unpadded base64url: 4n/3 characters (n a
// multiple of 3 gives no partial group), each A-Z a-z 0-9 - or _.
func URL(n int) string {
	return base64.RawURLEncoding.EncodeToString(read(n))
}

// read fills n bytes from crypto/rand, which never fails on the platforms
// Go supports (Go 1.24 made a failure a crash; before, it could only fail
// on a broken OS).
func read(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
