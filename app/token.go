package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sockbus/sockbus/auth"
	conf "github.com/sockbus/sockbus/config"
)

const tokenUsage = `usage: sockbus token --sub USER [--ttl 1h] [--allow-namespaces '/,/chat*'] [--allow-channels 'lobby,game.*']
                     [--allow-rooms 'chat-*,user-{user}'] [--private-key @key.pem] [server flags]

Mints a JWT the server accepts, for trying auth: signed with --auth-jwt-key
(read like the server reads it: flags, SOCKBUS_* environment, --config file),
with --auth-jwt-audience and --auth-jwt-issuer as aud and iss when set.
An HMAC secret signs by itself; when --auth-jwt-key names public keys
(@file), --private-key must name the matching private key (PEM).
--allow-namespaces and --allow-channels fill the token's "sockbus" claim
(patterns; left out, the token allows every name); --allow-rooms lists the
rooms the client may join itself (sockbus:join), besides --client-rooms.
`

// tokenCmd runs `sockbus token`: its own flags, and every server flag for
// the key, so the token matches the server configured the same way.
func tokenCmd(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sockbus token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), tokenUsage) }
	sub := fs.String("sub", "", "")
	ttl := fs.Duration("ttl", time.Hour, "")
	namespaces := fs.String("allow-namespaces", "", "")
	channels := fs.String("allow-channels", "", "")
	rooms := fs.String("allow-rooms", "", "")
	privateKey := fs.String("private-key", "", "")
	own, rest := splitArgs(fs, args)
	if err := fs.Parse(own); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, _, err := conf.Load("sockbus token", rest, environ, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "sockbus token:", err)
		return 2
	}
	m := auth.Mint{Subject: *sub, TTL: *ttl, Audience: cfg.AuthJWTAudience, Issuer: cfg.AuthJWTIssuer}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["allow-namespaces"] || set["allow-channels"] || set["allow-rooms"] {
		m.Scope = &auth.Scope{}
		if set["allow-namespaces"] {
			m.Scope.Namespaces = auth.Patterns(conf.SplitList(*namespaces))
		}
		if set["allow-channels"] {
			m.Scope.Channels = auth.Patterns(conf.SplitList(*channels))
		}
		if set["allow-rooms"] {
			m.Scope.Rooms = auth.Patterns(conf.SplitList(*rooms))
		}
	}
	token, err := m.Sign(cfg.AuthJWTKey, *privateKey,
		auth.WithAudience(cfg.AuthJWTAudience), auth.WithIssuer(cfg.AuthJWTIssuer))
	if err != nil {
		fmt.Fprintln(stderr, "sockbus token:", err)
		return 1
	}
	fmt.Fprintln(stdout, token)
	return 0
}

// splitArgs separates the arguments naming fs's flags (-name v, --name v,
// --name=v) from the rest, which are the server's flags.
func splitArgs(fs *flag.FlagSet, args []string) (own, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		name, _, hasValue := strings.Cut(name, "=")
		if name == "h" || name == "help" {
			own = append(own, a) // this command's usage, not the server's
			continue
		}
		if !strings.HasPrefix(a, "-") || fs.Lookup(name) == nil {
			rest = append(rest, a)
			continue
		}
		own = append(own, a)
		if !hasValue && i+1 < len(args) {
			i++
			own = append(own, args[i])
		}
	}
	return own, rest
}
