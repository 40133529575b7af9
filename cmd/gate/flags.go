package main

import (
	"flag"
	"io"
	"strings"
)

// configFiles collects repeated --config/-c flags.
type configFiles []string

func (c *configFiles) String() string { return strings.Join(*c, ",") }

func (c *configFiles) Set(v string) error {
	*c = append(*c, v)
	return nil
}

// newFlagSet returns a flag set that reports problems as usage errors instead
// of printing and exiting.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{"unexpected argument " + fs.Arg(0)}
	}
	return nil
}

// configFlag registers --config and -c.
func configFlag(fs *flag.FlagSet) *configFiles {
	var files configFiles
	fs.Var(&files, "config", "configuration file (repeatable)")
	fs.Var(&files, "c", "configuration file (repeatable)")
	return &files
}

// resolveConfig returns the files from flags or GATE_CONFIG.
func resolveConfig(files configFiles, getenv func(string) string) ([]string, error) {
	if len(files) > 0 {
		return files, nil
	}
	var out []string
	for _, f := range strings.Split(getenv("GATE_CONFIG"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, usageError{"no configuration given: use --config or GATE_CONFIG"}
	}
	return out, nil
}
