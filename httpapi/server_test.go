package httpapi

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReadKeys: keys as given and from @files (blank lines and comments
// skipped); a short key or an empty file refuses to start.
func TestReadKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("# ops\nfile-key-0123456789abcdef\n\n  file-key-fedcba9876543210  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadKeys([]string{"flag-key-0123456789abcdef", "@" + file})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"flag-key-0123456789abcdef", "file-key-0123456789abcdef", "file-key-fedcba9876543210"}
	if !slices.Equal(got, want) {
		t.Fatalf("keys %q, want %q", got, want)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"short"}, {"@" + empty}, {"@" + filepath.Join(t.TempDir(), "missing")}} {
		if _, err := ReadKeys(bad); err == nil || strings.Contains(err.Error(), "short\"") {
			t.Errorf("ReadKeys(%q) = %v, want a refusal that quotes no key", bad, err)
		}
	}
	if keys, err := ReadKeys(nil); err != nil || keys != nil {
		t.Fatalf("no keys: %q, %v (the API is off)", keys, err)
	}
}
