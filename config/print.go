package config

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// Print writes cfg as a YAML config file that Load reads back, each key
// with the origin of its value as a comment. Secrets are hidden.
func Print(w io.Writer, cfg Config, origins Origins) error {
	v := reflect.ValueOf(cfg)
	var b strings.Builder
	b.WriteString("# sockbus effective configuration (flags > environment > file > defaults)\n")
	for _, f := range fields {
		val := redactURLs(yamlValue(v.Field(f.index)))
		if f.secret && !v.Field(f.index).IsZero() {
			val = hidden
		}
		from := origins[f.key]
		if from == "" {
			from = "default"
		}
		fmt.Fprintf(&b, "%s: %s  # %s\n", f.key, val, from)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteDefault writes a YAML config file with every key at its default,
// each documented with its meaning, range and environment variable.
func WriteDefault(w io.Writer) error {
	v := reflect.ValueOf(Default())
	var b strings.Builder
	b.WriteString("# sockbus configuration file (YAML; the same keys work in TOML).\n" +
		"# Use it with --config FILE or SOCKBUS_CONFIG=FILE. Every key is also a flag\n" +
		"# (--key) and an environment variable; flags > environment > file > defaults.\n")
	for _, f := range fields {
		fmt.Fprintf(&b, "\n# %s\n", f.help)
		var notes []string
		if r := f.rangeText(""); r != "" {
			notes = append(notes, "range "+r)
		}
		if len(f.oneof) > 0 {
			notes = append(notes, "one of "+strings.Join(f.oneof, ", "))
		}
		if f.kind == durationType {
			notes = append(notes, "a duration such as 10s, 5m or 24h")
		}
		notes = append(notes, "flag --"+f.key, "env "+envName(f.key))
		fmt.Fprintf(&b, "# (%s)\n%s: %s\n", strings.Join(notes, "; "), f.key, yamlValue(v.Field(f.index)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// yamlValue writes strings, lists (comma-separated) and durations quoted (":3000" would not survive
// unquoted), numbers and booleans bare.
func yamlValue(v reflect.Value) string {
	if v.Type() == durationType || v.Type() == listType || v.Kind() == reflect.String {
		return strconv.Quote(formatValue(v))
	}
	return formatValue(v)
}

// hidden stands for a secret in printed values and errors.
const hidden = `"<hidden>"`

// redactURLs hides the credentials of the URLs in a value (nats-url,
// routes): nats://app:pw@h becomes nats://app:<hidden>@h, and a lone
// token, nats://tok@h, nats://<hidden>@h. Everything else is kept.
func redactURLs(v string) string {
	items := strings.Split(v, ",")
	for i, item := range items {
		s := strings.Index(item, "://")
		at := strings.LastIndexByte(item, '@')
		if s < 0 || at < s+3 {
			continue
		}
		user, _, hasPassword := strings.Cut(item[s+3:at], ":")
		if !hasPassword {
			user = ""
		} else {
			user += ":"
		}
		items[i] = item[:s+3] + user + "<hidden>" + item[at:]
	}
	return strings.Join(items, ",")
}
