package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Problem is one thing wrong with the configuration. Load and Validate
// return every Problem they find, joined with errors.Join, so that an
// operator fixes them all in one round; Problems takes them apart again.
type Problem struct {
	// Key is the key path to change, with dots and list indexes
	// (access_control.rules[0].resources[1]); empty when no single key is
	// at fault, as for an unreadable configuration file.
	Key string
	// Msg is one line and never holds a secret value.
	Msg string
}

// Error formats the problem as one "key: message" line.
func (p *Problem) Error() string {
	if p.Key == "" {
		return p.Msg
	}
	return p.Key + ": " + p.Msg
}

// Problems returns the problems joined into err by Load or Validate, in
// order. Errors that are not a *Problem are returned as a Problem without a
// key.
func Problems(err error) []*Problem {
	var out []*Problem
	var walk func(error)
	walk = func(e error) {
		if p, ok := e.(*Problem); ok {
			out = append(out, p)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
			return
		}
		out = append(out, &Problem{Msg: oneLine(e.Error())})
	}
	if err != nil {
		walk(err)
	}
	return out
}

// problems collects Problems in the order they are found.
type problems []error

func (ps *problems) add(key, format string, args ...any) {
	*ps = append(*ps, &Problem{Key: key, Msg: oneLine(fmt.Sprintf(format, args...))})
}

func (ps problems) err() error { return errors.Join(ps...) }

// quotedValue matches what YAML errors quote from the document, which may be
// a secret when a secret file is passed as a configuration file by mistake.
var quotedValue = regexp.MustCompile("`[^`]*`")

func redactYAMLError(s string) string { return quotedValue.ReplaceAllString(s, "`…`") }

// oneLine keeps messages to one line each, as STYLE asks: the output of
// validate-config is one problem per line.
func oneLine(s string) string {
	lines := strings.Split(s, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "; ")
}
