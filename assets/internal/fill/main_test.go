package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFillCopiesEachPackageAndNothingElse(t *testing.T) {
	root := t.TempDir()
	pkg := filepath.Join(root, "node_modules", "socket.io-client")
	write(t, filepath.Join(pkg, "package.json"), `{"version":"4.8.4"}`)
	write(t, filepath.Join(pkg, "dist", "socket.io.js"), "bundle")
	write(t, filepath.Join(pkg, "dist", "deep", "x.map"), "map")
	write(t, filepath.Join(pkg, "build", "cjs", "index.js"), "not embedded")
	admin := filepath.Join(root, "node_modules", "@socket.io", "admin-ui")
	write(t, filepath.Join(admin, "package.json"), `{"version":"0.5.1"}`)
	write(t, filepath.Join(admin, "ui", "dist", "index.html"), "<html>")
	write(t, filepath.Join(admin, "dist", "index.js"), "server side: not embedded")
	mdi := filepath.Join(root, "node_modules", "@mdi", "font")
	write(t, filepath.Join(mdi, "package.json"), `{"version":"7.4.47"}`)
	write(t, filepath.Join(mdi, "css", "materialdesignicons.min.css"), "css")
	write(t, filepath.Join(mdi, "css", "materialdesignicons.css"), "not minified: not embedded")
	write(t, filepath.Join(mdi, "fonts", "materialdesignicons-webfont.woff2"), "woff2")
	write(t, filepath.Join(mdi, "fonts", "materialdesignicons-webfont.ttf"), "ttf: not embedded")
	roboto := filepath.Join(root, "node_modules", "typeface-roboto")
	write(t, filepath.Join(roboto, "package.json"), `{"version":"1.1.13"}`)
	write(t, filepath.Join(roboto, "index.css"), "fonts")
	write(t, filepath.Join(roboto, "files", "roboto-latin-400.woff2"), "woff2")
	stale := filepath.Join(root, "assets", "dist", "gone", "package.json")
	write(t, stale, "{}")

	if err := fill(root); err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(root, "assets", "dist", "socket.io-client")
	for file, want := range map[string]string{"package.json": `{"version":"4.8.4"}`, "dist/socket.io.js": "bundle", "dist/deep/x.map": "map"} {
		if got, err := os.ReadFile(filepath.Join(dist, filepath.FromSlash(file))); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v", file, got, err)
		}
	}
	adminDist := filepath.Join(root, "assets", "dist", "@socket.io", "admin-ui")
	if got, err := os.ReadFile(filepath.Join(adminDist, "ui", "dist", "index.html")); err != nil || string(got) != "<html>" {
		t.Errorf("admin UI index.html = %q, %v", got, err)
	}
	for file, want := range map[string]string{"@mdi/font/css/materialdesignicons.min.css": "css", "@mdi/font/fonts/materialdesignicons-webfont.woff2": "woff2",
		"typeface-roboto/index.css": "fonts", "typeface-roboto/files/roboto-latin-400.woff2": "woff2"} {
		if got, err := os.ReadFile(filepath.Join(root, "assets", "dist", filepath.FromSlash(file))); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v", file, got, err)
		}
	}
	mdiDist := filepath.Join(root, "assets", "dist", "@mdi", "font")
	for _, p := range []string{filepath.Join(dist, "build"), filepath.Join(adminDist, "dist"), stale,
		filepath.Join(mdiDist, "css", "materialdesignicons.css"), filepath.Join(mdiDist, "fonts", "materialdesignicons-webfont.ttf")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is there (%v)", p, err)
		}
	}
}

func TestFillWithoutNodeModulesSaysNpmCI(t *testing.T) {
	err := fill(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "npm ci") || !strings.Contains(err.Error(), "socket.io-client") {
		t.Fatalf("fill = %v", err)
	}
}
