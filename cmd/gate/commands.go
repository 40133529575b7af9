package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"gate/internal/config"
	"gate/internal/users"
)

// Stamped at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

func cmdVersion(args []string, stdout io.Writer) error {
	if err := parseFlags(newFlagSet("version"), args); err != nil {
		return err
	}
	c := commit
	if c == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	fmt.Fprintf(stdout, "gate %s (commit %s, %s)\n", version, c, runtime.Version())
	return nil
}

func loadConfig(args []string, name string, getenv func(string) string) (*config.Config, error) {
	fs := newFlagSet(name)
	files := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	paths, err := resolveConfig(*files, getenv)
	if err != nil {
		return nil, err
	}
	return config.Load(paths, getenv)
}

// cmdValidate loads the configuration and runs what serve runs before it
// opens anything (prepare), and reads the users file as serve does, so
// that a configuration it accepts is one serve starts with. It connects to
// nothing.
func cmdValidate(args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(args, "validate-config", getenv)
	if err != nil {
		return err
	}
	st, err := prepare(cfg, io.Discard)
	var uerr error
	if cfg.AuthenticationBackend.File.Path != "" {
		// Without a path, the providers are the only sign-in, as in serve.
		var dir *users.File
		if dir, uerr = openUsers(cfg, false, zerolog.Nop()); uerr == nil {
			_ = dir.Close()
		}
	}
	if err := errors.Join(err, uerr); err != nil {
		return err
	}
	for _, w := range st.rules.Warnings() {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	fmt.Fprintln(stdout, "configuration is valid")
	return nil
}

// maxPasswordInput bounds what hash-password reads from stdin.
const maxPasswordInput = 4096

func cmdHashPassword(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := newFlagSet("hash-password")
	algorithm := fs.String("algorithm", "argon2id", "argon2id or bcrypt")
	password := fs.String("password", "", "password (default: read from stdin)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *algorithm != "argon2id" && *algorithm != "bcrypt" {
		return usageError{fmt.Sprintf("--algorithm must be argon2id or bcrypt, got %q", *algorithm)}
	}
	pw := *password
	if pw == "" {
		b, err := io.ReadAll(io.LimitReader(stdin, maxPasswordInput+1))
		if err != nil {
			return fmt.Errorf("read password from stdin: %w", err)
		}
		if len(b) > maxPasswordInput {
			return errors.New("password on stdin is too long")
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		pw = string(b)
	}
	if pw == "" {
		return errors.New("empty password")
	}
	h, err := users.HashPassword(pw, *algorithm)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}

// cmdHealthcheck asks this instance's /healthz, for container HEALTHCHECKs
// in images without a shell or curl.
func cmdHealthcheck(ctx context.Context, args []string, getenv func(string) string) error {
	cfg, err := loadConfig(args, "healthcheck", getenv)
	if err != nil {
		return err
	}
	network, addr, err := config.ParseAddress(cfg.Server.Address)
	if err != nil {
		return fmt.Errorf("server.address: %w", err)
	}
	host := "localhost"
	if network == "tcp" {
		h, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("server.address: %w", err)
		}
		if h == "" || h == "0.0.0.0" || h == "::" {
			h = "127.0.0.1"
		}
		addr = net.JoinHostPort(h, port)
		host = addr
	}
	dialer := &net.Dialer{Timeout: 3 * time.Second}
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, addr)
			},
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", strings.TrimPrefix(cfg.Server.Address, "tcp://"), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %d", resp.StatusCode)
	}
	return nil
}

// cmdToken runs the token subcommands; create is the only one.
func cmdToken(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{"token: the only subcommand is create"}
	}
	return cmdTokenCreate(args[1:], stdout)
}

// cmdTokenCreate prints a new API token once, and the users-file entry
// that holds only its hash: gate never sees the token again.
func cmdTokenCreate(args []string, stdout io.Writer) error {
	fs := newFlagSet("token create")
	user := fs.String("user", "", "the user the token authenticates as")
	name := fs.String("name", "", "a name for the token, unique for the user")
	expires := fs.String("expires", "", "date (2027-03-01) or RFC 3339 time the token ends; default never")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *user == "" || *name == "" {
		return usageError{"token create needs --user and --name"}
	}
	if strings.ContainsAny(*name, "'\n\r") || strings.ContainsAny(*user, "\n\r") {
		return usageError{"--user and --name must be one line without quotes"}
	}
	entry := fmt.Sprintf("{name: '%s', hash: '%%s'", *name)
	if *expires != "" {
		if _, err := users.ParseTokenExpiry(*expires); err != nil {
			return usageError{"--expires " + err.Error()}
		}
		entry += ", expires: '" + *expires + "'"
	}
	entry += "}"
	token, hash, err := users.NewToken()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token: %s\n", token)
	fmt.Fprintf(stdout, "# shown once; add this entry under users.%s.tokens in the users file:\n", *user)
	fmt.Fprintf(stdout, "- "+entry+"\n", hash)
	return nil
}
