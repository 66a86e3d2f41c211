// Package config turns flags, environment variables and a config file into
// one validated Config.
//
// Every setting is one Config field whose `key` tag names the flag (--key),
// the environment variable (SOCKBUS_KEY, "-" written "_") and the file key.
// Precedence, highest first: flags, environment, the --config file (YAML or
// TOML), Default. A value is converted and checked only where it wins, so a
// bad environment value overridden by a flag is not an error; a failing
// value is reported with its key, where it came from and the valid range:
//
//	replicas "7" (env SOCKBUS_REPLICAS): must be 1..5
//
// Print writes the effective configuration (sockbus config print) and
// WriteDefault a documented default file (sockbus config default); both are
// YAML that Load reads back.
//
// # Adding a setting (one hunk)
//
// Add a field to Config with `key` and `help` tags, plus whatever checks
// apply, and its default to Default if it is not the zero value:
//
//	MetricsAddr string `key:"metrics-addr" check:"addr" help:"serve /metrics here (empty: off)"`
//	MaxConns    int    `key:"max-conns" min:"1" max:"1000000" help:"open connections at most"`
//
// Supported types: string, int, int64, bool, time.Duration and []string (a
// comma-separated list in flags and the environment, a list or a
// comma-separated string in the file). A package's default comes from
// that package (bus.DefaultStoreTimeout, socketio.DefaultMaxRooms...), never
// a second copy of its value. Tags: `min` and
// `max` (numbers; durations written like "1s"), `oneof:"a b c"`,
// `check:"addr"` (host:port, empty allowed), `check:"path"` (/x/),
// `required:"true"` (non-empty), `secret:"true"` (hidden by Print). Then
// read cfg.MetricsAddr in app/. The flag, the environment variable,
// the file key, --help, the default file and the checks follow from the tags;
// TestEveryKeyRoundTrips covers the new key without edits. Rules that
// involve several keys go in Config.validate.
//
// # Why koanf
//
// github.com/knadh/koanf/v2 reads the file (its yaml and toml parsers) and
// the environment (its env provider) into flat key maps without global
// state and with a small dependency tree; viper's global instance and
// case-folding of keys would fight the per-run Load that tests need, and its
// pflag binding would drop the single-dash flags (-addr) that the standard
// library's flag package, used here, keeps accepting. koanf's layers stay
// separate so each value's origin can be named in errors and in Print.
//
// Start reading at config.go (Config, Default), then load.go ([Load]);
// print.go writes the configuration back out.
package config
