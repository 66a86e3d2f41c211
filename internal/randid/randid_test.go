package randid

import (
	"regexp"
	"testing"
)

func TestSpellingAndLength(t *testing.T) {
	hex := regexp.MustCompile(`^[0-9a-f]{24}$`)
	url := regexp.MustCompile(`^[A-Za-z0-9_-]{20}$`)
	seen := map[string]bool{}
	for range 100 {
		h, u := Hex(12), URL(15)
		if !hex.MatchString(h) {
			t.Fatalf("Hex(12) = %q", h)
		}
		if !url.MatchString(u) {
			t.Fatalf("URL(15) = %q", u)
		}
		if seen[h] || seen[u] {
			t.Fatalf("repeated id %q / %q", h, u)
		}
		seen[h], seen[u] = true, true
	}
}
