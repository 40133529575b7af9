// Package config owns gate's configuration: the schema (Config and its
// sections), the defaults, loading and layering (YAML files with koanf,
// GATE_* environment variables, GATE_*_FILE secret files), and validation.
//
// Everything that can be known to be wrong without the network is reported
// by Load, all at once, each problem on one line naming the key path to
// change, and never quoting a secret. Whether Redis answers, and what the
// users file says, belong to the session store and the users package; this
// package only checks that the users file can be opened.
//
// It also holds the parsers that turn validated strings into what other
// packages use (ParseAddress, ParsePrefixes, ParseTLSVersion, ReadPEM), so
// that a value is read the same way when it is checked and when it is used.
// It imports no other gate package.
package config
