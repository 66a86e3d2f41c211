package assets

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// BuildTag is the build tag under which the packages in dist/ are embedded.
const BuildTag = "sockbus_assets"

// Package is an npm package (pinned in package.json) whose files sockbus
// serves.
type Package struct {
	// Name is the npm package name, e.g. "socket.io-client".
	Name string
	// Dir is the directory of the package that is embedded and served,
	// relative to the package root, e.g. "dist" ("." for the root).
	Dir string
	// Exts, when set, limits what is embedded to files whose names end
	// so (the formats browsers use, not every format a package ships).
	Exts []string
}

// Embeds reports whether a file of p's Dir is embedded.
func (p Package) Embeds(name string) bool {
	if len(p.Exts) == 0 {
		return true
	}
	for _, e := range p.Exts {
		if strings.HasSuffix(name, e) {
			return true
		}
	}
	return false
}

// levels is how many directories Dir is below the package root.
func (p Package) levels() int {
	if p.Dir == "." || p.Dir == "" {
		return 0
	}
	return len(strings.Split(p.Dir, "/"))
}

// Packages are the npm packages `make build` embeds: one line each.
var Packages = []Package{
	ClientPackage,
	AdminUIPackage,
	AdminIconsCSS, AdminIconsFonts,
	AdminFontPackage,
}

// ClientPackage is socket.io-client; its dist/ holds the browser bundles.
var ClientPackage = Package{Name: "socket.io-client", Dir: "dist"}

// AdminUIPackage is @socket.io/admin-ui; its ui/dist is the Socket.IO Admin
// UI, served at /admin/ with --admin-ui.
var AdminUIPackage = Package{Name: "@socket.io/admin-ui", Dir: "ui/dist"}

// The admin UI's index.html loads its icons (Material Design Icons) and
// font (Roboto) from CDNs; these packages hold the same files, served
// under /admin/vendor/ in their place so the UI works offline.
var (
	AdminIconsCSS    = Package{Name: "@mdi/font", Dir: "css", Exts: []string{".min.css"}}
	AdminIconsFonts  = Package{Name: "@mdi/font", Dir: "fonts", Exts: []string{".woff2", ".woff"}}
	AdminFontPackage = Package{Name: "typeface-roboto", Dir: ".", Exts: []string{".css", ".woff2", ".woff"}}
)

// NodeModulesDir is where npm ci puts p's served directory, relative to
// the sockbus source directory.
func (p Package) NodeModulesDir() string {
	return filepath.Join("node_modules", filepath.FromSlash(p.Name), filepath.FromSlash(p.Dir))
}

// Source is where the files of one package are read from.
type Source struct {
	// FS holds the package's Dir.
	FS fs.FS
	// Version is the package's version from its package.json.
	Version string
	// Embedded is true when FS is in the binary; otherwise From names the
	// directory.
	Embedded bool
	From     string
}

// embedded is the tree internal/fill wrote to dist/, with one directory per
// package name holding package.json and Dir; nil when built without
// BuildTag.
var embedded fs.FS

// Embedded reports whether p is in the binary.
func Embedded(p Package) bool {
	if embedded == nil {
		return false
	}
	_, err := fs.Stat(embedded, path.Join(p.Name, "package.json"))
	return err == nil
}

// ErrNotEmbedded is returned by Open when p is not in the binary and no
// directory was given.
var ErrNotEmbedded = errors.New("assets: package not embedded")

// Open returns p's files from the binary when they are embedded, else from
// dir, the package's Dir inside its npm package (package.json is found as
// many levels up as Dir has elements).
func Open(p Package, dir string) (Source, error) {
	if Embedded(p) {
		fsys, err := fs.Sub(embedded, path.Join(p.Name, p.Dir))
		if err != nil {
			return Source{}, fmt.Errorf("failed to open embedded %s: %w", p.Name, err)
		}
		v, err := readVersion(embedded, path.Join(p.Name, "package.json"))
		if err != nil {
			return Source{}, err
		}
		return Source{FS: fsys, Version: v, Embedded: true}, nil
	}
	if dir == "" {
		return Source{}, fmt.Errorf("%s: %w", p.Name, ErrNotEmbedded)
	}
	root := dir
	for range p.levels() {
		root = filepath.Join(root, "..")
	}
	v, err := readVersion(os.DirFS(root), "package.json")
	if err != nil {
		return Source{}, fmt.Errorf("%s not found in %s: %w", p.Name, dir, err)
	}
	return Source{FS: os.DirFS(dir), Version: v, From: dir}, nil
}

func readVersion(fsys fs.FS, name string) (string, error) {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return "", fmt.Errorf("failed to read package.json: %w", err)
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		return "", fmt.Errorf("failed to parse %s: %w", name, err)
	}
	if pkg.Version == "" {
		return "", fmt.Errorf("%s has no version", name)
	}
	return pkg.Version, nil
}
