package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts the environment twin of every key: data-dir is
// SOCKBUS_DATA_DIR.
const EnvPrefix = "SOCKBUS_"

// ConfigFlag names the config file; it is a flag and an environment
// variable (SOCKBUS_CONFIG) but not a key of the file itself.
const ConfigFlag = "config"

// Origins says where each key's effective value came from: "default",
// "file FILE", "env SOCKBUS_X" or "flag --x".
type Origins map[string]string

// field is one Config field with its tags.
type field struct {
	index    int
	key      string
	alias    string // an old name, still accepted as flag, env and file key
	help     string
	kind     reflect.Type
	min, max string
	oneof    []string
	check    string
	required bool
	secret   bool
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	listType     = reflect.TypeFor[[]string]()
)

// SplitList splits a comma-separated value, trimming items and dropping
// blank ones: how every list setting is read from a flag or the
// environment ("a, b,,c" is [a b c]; "" is nil).
func SplitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// fields lists Config's fields in declaration order (also the order of the
// printed file and of --help).
var fields = func() []field {
	t := reflect.TypeFor[Config]()
	out := make([]field, 0, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		f := field{
			index: i, key: sf.Tag.Get("key"), alias: sf.Tag.Get("alias"), help: sf.Tag.Get("help"), kind: sf.Type,
			min: sf.Tag.Get("min"), max: sf.Tag.Get("max"), check: sf.Tag.Get("check"),
			required: sf.Tag.Get("required") == "true", secret: sf.Tag.Get("secret") == "true",
		}
		if o := sf.Tag.Get("oneof"); o != "" {
			f.oneof = strings.Fields(o)
		}
		if f.key == "" || f.help == "" {
			panic("config: field " + sf.Name + " needs key and help tags")
		}
		out = append(out, f)
	}
	return out
}()

// Keys lists every key, in the order of the default file.
func Keys() []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.key
	}
	return out
}

// canonical maps an old name to its key; other names are returned as is.
func canonical(name string) string {
	for _, f := range fields {
		if f.alias != "" && f.alias == name {
			return f.key
		}
	}
	return name
}

func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// rawFlag keeps a flag's text as given: conversion and checks happen once,
// for every source alike, after the layers are merged.
type rawFlag struct {
	val    string
	isBool bool
}

func (f *rawFlag) String() string {
	if f == nil {
		return ""
	}
	return f.val
}
func (f *rawFlag) Set(s string) error { f.val = s; return nil }
func (f *rawFlag) IsBoolFlag() bool   { return f.isBool }

// Load builds the configuration from, lowest first: Default, the file
// named by --config (or SOCKBUS_CONFIG), the environment (environ, as from
// os.Environ) and the flags in args. name is the command shown in --help;
// usage output goes to errOut. A value is converted and checked only if it
// wins, so a bad environment value overridden by a flag is no error.
// flag.ErrHelp is returned as is for -h.
func Load(name string, args, environ []string, errOut io.Writer) (Config, Origins, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(errOut)
	flags := make(map[string]*rawFlag, len(fields))
	for _, f := range fields {
		rf := &rawFlag{isBool: f.kind.Kind() == reflect.Bool}
		flags[f.key] = rf
		fs.Var(rf, f.key, f.help)
		if f.alias != "" {
			fs.Var(rf, f.alias, "old name of --"+f.key)
		}
	}
	configFile := fs.String(ConfigFlag, "", "")
	fs.Usage = func() { usage(fs.Output(), name) }
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	if fs.NArg() > 0 {
		return Config{}, nil, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[canonical(f.Name)] = true })

	envK := koanf.New(".")
	envOpt := env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(k, v string) (string, any) {
			key := canonical(strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(k, EnvPrefix), "_", "-")))
			if key != ConfigFlag && !slices.Contains(Keys(), key) {
				return "", nil // SOCKBUS_URL and friends belong to others
			}
			return key, v
		},
	}
	if err := envK.Load(env.Provider(".", envOpt), nil); err != nil {
		return Config{}, nil, fmt.Errorf("failed to read the environment: %w", err)
	}

	path := envK.String(ConfigFlag)
	if set[ConfigFlag] {
		path = *configFile
	}
	fileK := koanf.New(".")
	if path != "" {
		if err := loadFile(fileK, path); err != nil {
			return Config{}, nil, err
		}
	}

	cfg := Default()
	origins := Origins{}
	v := reflect.ValueOf(&cfg).Elem()
	for _, f := range fields {
		var raw any
		switch {
		case set[f.key]:
			raw, origins[f.key] = flags[f.key].val, "flag --"+f.key
		case envK.Exists(f.key):
			raw, origins[f.key] = envK.Get(f.key), "env "+envName(f.key)
		case fileK.Exists(f.key):
			raw, origins[f.key] = fileK.Get(f.key), "file "+path
		default:
			origins[f.key] = "default"
			continue
		}
		if err := f.assign(v.Field(f.index), raw); err != nil {
			shown := redactURLs(quote(raw))
			if f.secret {
				shown = hidden
			}
			return Config{}, nil, fmt.Errorf("%s %s (%s): %w", f.key, shown, origins[f.key], err)
		}
	}
	if err := cfg.validate(origins); err != nil {
		return Config{}, nil, err
	}
	return cfg, origins, nil
}

// mapProvider hands an already parsed file to koanf.
type mapProvider map[string]any

func (m mapProvider) ReadBytes() ([]byte, error)    { return nil, errors.New("not supported") }
func (m mapProvider) Read() (map[string]any, error) { return m, nil }

// loadFile parses a YAML (.yaml, .yml, .json) or TOML (.toml) file and
// refuses keys that are not settings, so a typo is not silently ignored.
func loadFile(k *koanf.Koanf, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("failed to read config file: %w", err)
	}
	var parser koanf.Parser
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
		parser = yaml.Parser()
	case ".toml":
		parser = toml.Parser()
	default:
		return fmt.Errorf("config file %s: unknown format (want .yaml, .yml, .json or .toml)", path)
	}
	m, err := parser.Unmarshal(b)
	if err != nil {
		return fmt.Errorf("failed to parse config file %s: %w", path, err)
	}
	for key, v := range m {
		if c := canonical(key); c != key {
			delete(m, key)
			m[c] = v
			key = c
		}
		if !slices.Contains(Keys(), key) {
			return fmt.Errorf("config file %s: unknown key %q (`sockbus config default` lists them all)", path, key)
		}
	}
	return k.Load(mapProvider(m), nil)
}

func quote(raw any) string {
	if s, ok := raw.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(raw)
}

// assign converts raw (a string from a flag or the environment, or a
// parsed file value) into the field's type and checks its range.
func (f field) assign(dst reflect.Value, raw any) error {
	s, isString := raw.(string)
	switch {
	case f.kind == durationType:
		if !isString {
			return errors.New("want a duration such as 10s, 5m or 24h")
		}
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return errors.New("want a duration such as 10s, 5m or 24h")
		}
		dst.SetInt(int64(d))
	case f.kind.Kind() == reflect.Int || f.kind.Kind() == reflect.Int64:
		n, ok := toInt(raw)
		if !ok {
			return fmt.Errorf("want a whole number%s", f.rangeText(", "))
		}
		dst.SetInt(n)
	case f.kind.Kind() == reflect.Bool:
		b, ok := raw.(bool)
		if isString {
			var err error
			if b, err = strconv.ParseBool(strings.TrimSpace(s)); err != nil {
				ok = false
			} else {
				ok = true
			}
		}
		if !ok {
			return errors.New("want true or false")
		}
		dst.SetBool(b)
	case f.kind.Kind() == reflect.String:
		switch raw.(type) {
		case string, int, int64, float64, bool:
			dst.SetString(fmt.Sprint(raw))
		default:
			return errors.New("want a single value")
		}
	case f.kind == listType:
		list, err := toList(raw)
		if err != nil {
			return err
		}
		dst.Set(reflect.ValueOf(list))
	default:
		panic("config: unsupported field type " + f.kind.String())
	}
	return f.check1(dst)
}

// toList reads a list: a comma-separated string (flags, environment,
// file) or a list of single values (file).
func toList(raw any) ([]string, error) {
	switch v := raw.(type) {
	case string:
		return SplitList(v), nil
	case []any:
		var out []string
		for _, item := range v {
			switch item.(type) {
			case string, int, int64, float64, bool:
			default:
				return nil, errors.New("want a list of single values")
			}
			out = append(out, SplitList(fmt.Sprint(item))...)
		}
		return out, nil
	}
	return nil, errors.New("want a comma-separated list, or a list")
}

func toInt(raw any) (int64, bool) {
	switch n := raw.(type) {
	case string:
		v, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		return v, err == nil
	case int:
		return int64(n), true
	case int64:
		return n, true
	case uint64:
		return int64(n), n <= math.MaxInt64
	case float64:
		return int64(n), n == math.Trunc(n) && math.Abs(n) < 1<<62
	}
	return 0, false
}

// check1 applies the field's own tags to its converted value.
func (f field) check1(v reflect.Value) error {
	switch {
	case f.kind == durationType || f.kind.Kind() == reflect.Int || f.kind.Kind() == reflect.Int64:
		n := v.Int()
		if f.min != "" && n < f.bound(f.min) || f.max != "" && n > f.bound(f.max) {
			return fmt.Errorf("must be %s", f.rangeText(""))
		}
	case f.kind.Kind() == reflect.String:
		s := v.String()
		if len(f.oneof) > 0 && !slices.Contains(f.oneof, s) {
			return fmt.Errorf("must be one of %s", strings.Join(f.oneof, ", "))
		}
		if f.required && s == "" {
			return errors.New("must not be empty")
		}
		switch f.check {
		case "addr":
			if s != "" {
				if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
					return errors.New("must be host:port, e.g. 127.0.0.1:4222 or :3000")
				}
			}
		case "path":
			if !strings.HasPrefix(s, "/") || !strings.HasSuffix(s, "/") {
				return errors.New("must start and end with /, e.g. /socket.io/")
			}
		}
	}
	return nil
}

func (f field) bound(s string) int64 {
	if f.kind == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			panic("config: bad bound " + s + " on " + f.key)
		}
		return int64(d)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic("config: bad bound " + s + " on " + f.key)
	}
	return n
}

// rangeText is the valid range as written in messages: "1..5", "at least 0".
func (f field) rangeText(prefix string) string {
	switch {
	case f.min != "" && f.max != "":
		return prefix + f.min + ".." + f.max
	case f.min != "":
		return prefix + "at least " + f.min
	case f.max != "":
		return prefix + "at most " + f.max
	}
	return ""
}

// validate checks rules that involve several keys.
func (c Config) validate(o Origins) error {
	if (c.NATSUser == "") != (c.NATSPassword == "") {
		return fmt.Errorf("nats-user (%s) and nats-password (%s): set both or neither", o["nats-user"], o["nats-password"])
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("tls-cert (%s) and tls-key (%s): set both or neither", o["tls-cert"], o["tls-key"])
	}
	if (c.ClusterUser == "") != (c.ClusterPassword == "") {
		return fmt.Errorf("cluster-user (%s) and cluster-password (%s): set both or neither", o["cluster-user"], o["cluster-password"])
	}
	if set := btoi(c.ClusterTLSCert != "") + btoi(c.ClusterTLSKey != "") + btoi(c.ClusterTLSCA != ""); set != 0 && set != 3 {
		return fmt.Errorf("cluster-tls-cert (%s), cluster-tls-key (%s) and cluster-tls-ca (%s): set all three or none",
			o["cluster-tls-cert"], o["cluster-tls-key"], o["cluster-tls-ca"])
	}
	if c.NATSURL != "" && (c.NATSAddr != "" || c.ClusterName != "") {
		return fmt.Errorf("nats-url (%s) connects to an external NATS: nats-addr and cluster-* configure the embedded one; drop them", o["nats-url"])
	}
	if (c.NATSTLSCert == "") != (c.NATSTLSKey == "") {
		return fmt.Errorf("nats-tls-cert (%s) and nats-tls-key (%s): set both or neither", o["nats-tls-cert"], o["nats-tls-key"])
	}
	if c.AuthJWTKey == "" && (c.AuthJWTAudience != "" || c.AuthJWTIssuer != "") {
		return fmt.Errorf("auth-jwt-audience (%s) and auth-jwt-issuer (%s) check tokens: they need auth-jwt-key", o["auth-jwt-audience"], o["auth-jwt-issuer"])
	}
	if c.ClusterName != "" && (c.ClusterAddr == "" || c.NodeName == "") {
		return fmt.Errorf("cluster-name %q (%s): a cluster also needs cluster-addr and node-name", c.ClusterName, o["cluster-name"])
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// usage writes --help: every flag with its type, range, environment
// variable and default.
func usage(w io.Writer, name string) {
	fmt.Fprintf(w, "Usage: %s [flags]\n\nEvery flag --x-y is also the environment variable %sX_Y and the key x-y of\nthe --config file (YAML or TOML). Precedence: flags > environment > file > defaults.\n\n", name, EnvPrefix)
	fmt.Fprintf(w, "  --%s FILE\n    \tread settings from this YAML (.yaml/.yml) or TOML (.toml) file (env %sCONFIG)\n", ConfigFlag, EnvPrefix)
	def := reflect.ValueOf(Default())
	for _, f := range fields {
		fmt.Fprintf(w, "  --%s %s\n    \t%s", f.key, f.typeName(), f.help)
		var notes []string
		if r := f.rangeText(""); r != "" {
			notes = append(notes, "range "+r)
		}
		if len(f.oneof) > 0 {
			notes = append(notes, "one of "+strings.Join(f.oneof, ", "))
		}
		notes = append(notes, "env "+envName(f.key))
		if d := formatValue(def.Field(f.index)); d != "" && d != "0" && d != "0s" && d != "false" {
			notes = append(notes, "default "+d)
		}
		fmt.Fprintf(w, " (%s)\n", strings.Join(notes, "; "))
	}
}

func (f field) typeName() string {
	switch {
	case f.kind == durationType:
		return "duration"
	case f.kind.Kind() == reflect.Bool:
		return "bool"
	case f.kind.Kind() == reflect.String:
		return "string"
	case f.kind == listType:
		return "list"
	}
	return "int"
}

// formatValue writes a value the way the flags and the file accept it.
func formatValue(v reflect.Value) string {
	switch v.Type() {
	case durationType:
		return time.Duration(v.Int()).String()
	case listType:
		return strings.Join(v.Interface().([]string), ",")
	}
	return fmt.Sprint(v.Interface())
}
