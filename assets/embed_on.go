//go:build sockbus_assets

package assets

import (
	"embed"
	"io/fs"
)

// dist is filled by `make build` (internal/fill); without it this file does
// not compile, which is why it sits behind the build tag.
//
//go:embed all:dist
var dist embed.FS

func init() {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is a literal directory name: cannot fail
	}
	embedded = sub
}
