package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
)

// version and commit are set by `make build` (-ldflags -X); without them
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

// clientVersion reads the socket.io-client version next to its bundle
// (clientDir is the package's dist directory).
func clientVersion(clientDir string) string {
	b, err := os.ReadFile(filepath.Join(clientDir, "..", "package.json"))
	if err != nil {
		return "not found in " + clientDir + " (set --client-dir)"
	}
	var pkg struct{ Version string }
	if json.Unmarshal(b, &pkg) != nil || pkg.Version == "" {
		return "unknown"
	}
	return pkg.Version + " (from " + clientDir + ")"
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
