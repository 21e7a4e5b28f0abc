// Package cli holds what the commands' flag parsing shares: environment fallbacks, and
// "secret" flags whose environment default is never printed by -help (tokens, server URLs
// that may hold passwords).
package cli

import (
	"flag"
	"os"
	"strings"
)

// EnvOr returns the environment variable name, or def when it is unset or empty.
func EnvOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// SplitList splits a comma-separated list, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Secrets are flags whose default comes from the environment after parsing, so that
// -help shows no value.
type Secrets struct {
	fs   *flag.FlagSet
	vals []secret
}

type secret struct {
	dst  *string
	name string
	env  string
	flag *string
}

// NewSecrets returns the secret flags of fs.
func NewSecrets(fs *flag.FlagSet) *Secrets { return &Secrets{fs: fs} }

// String registers a secret string flag: after Resolve, dst is the flag's value if it was
// given, else the environment variable env, else what dst held.
func (s *Secrets) String(dst *string, name, env, usage string) {
	s.vals = append(s.vals, secret{dst: dst, name: name, env: env, flag: s.fs.String(name, "", usage)})
}

// Resolve sets every secret flag's destination; call it after Parse.
func (s *Secrets) Resolve() {
	given := map[string]bool{}
	s.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, v := range s.vals {
		if given[v.name] {
			*v.dst = *v.flag
		} else {
			*v.dst = EnvOr(v.env, *v.dst)
		}
	}
}
