package app

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/sockbus/sockbus/assets"
)

// version and commit are set by `make build` (-ldflags -X
// github.com/sockbus/sockbus/app.version=...); without them
// the module version and VCS stamp that go build records are used.
var version, commit string

// versionInfo is what `sockbus version` prints.
type versionInfo struct {
	Version, Commit, Go string
	Modified            bool
	Deps                map[string]string
}

func buildVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit, Go: runtime.Version(), Deps: map[string]string{}}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/nats-io/nats-server/v2", "github.com/lxzan/gws":
				v.Deps[d.Path] = d.Version
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	return v
}

// clientVersion says which socket.io-client the binary serves: the one
// embedded by `make build`, else the one in clientDir (--client-dir).
func clientVersion(clientDir string) string {
	src, err := assets.Open(assets.ClientPackage, clientDir)
	switch {
	case err != nil:
		return "not embedded, not found in --client-dir " + clientDir + " (make build embeds it)"
	case src.Embedded:
		return src.Version + " (embedded)"
	default:
		return src.Version + " (not embedded: from --client-dir " + clientDir + ")"
	}
}

func writeVersion(w io.Writer, clientDir string) {
	v := buildVersion()
	commit := v.Commit
	if v.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(w, "sockbus %s\ncommit %s\n%s\n", v.Version, commit, v.Go)
	fmt.Fprintf(w, "socket.io-client %s\n", clientVersion(clientDir))
	for _, dep := range []string{"github.com/nats-io/nats-server/v2", "github.com/lxzan/gws"} {
		if ver, ok := v.Deps[dep]; ok {
			fmt.Fprintf(w, "%s %s\n", dep, ver)
		}
	}
}
