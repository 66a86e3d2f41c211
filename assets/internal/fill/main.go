package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sockbus/sockbus/assets"
)

func main() {
	root := flag.String("root", ".", "the sockbus source directory (holds node_modules and assets)")
	flag.Parse()
	if err := fill(*root); err != nil {
		fmt.Fprintln(os.Stderr, "fill:", err)
		os.Exit(1)
	}
}

func fill(root string) error {
	dist := filepath.Join(root, "assets", "dist")
	if err := os.RemoveAll(dist); err != nil {
		return fmt.Errorf("failed to clear %s: %w", dist, err)
	}
	for _, p := range assets.Packages {
		src := filepath.Join(root, p.NodeModulesDir())
		pkgRoot := filepath.Join(root, "node_modules", filepath.FromSlash(p.Name))
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("%s is not in node_modules (run `npm ci`; is it in package.json?): %w", p.Name, err)
		}
		dst := filepath.Join(dist, filepath.FromSlash(p.Name))
		if err := copyFile(filepath.Join(pkgRoot, "package.json"), filepath.Join(dst, "package.json")); err != nil {
			return err
		}
		if err := copyTree(src, filepath.Join(dst, filepath.FromSlash(p.Dir)), p.Embeds); err != nil {
			return err
		}
	}
	return nil
}

func copyTree(src, dst string, keep func(name string) bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() || !keep(d.Name()) {
			return nil // directories: made by copyFile as needed
		}
		return copyFile(p, filepath.Join(dst, rel))
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("failed to copy: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("failed to copy %s: %w", src, err)
	}
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("failed to copy %s: %w", src, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("failed to copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("failed to copy %s: %w", src, err)
	}
	return nil
}
