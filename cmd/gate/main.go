package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfiling := startProfiling()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stopProfiling()
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// usageError is a mistake on the command line: exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `usage: gate [serve] --config FILE | validate-config --config FILE | hash-password [--algorithm argon2id|bcrypt] [--password P] | token create --user NAME --name NAME [--expires DATE] | healthcheck --config FILE | version`

// run is main without the process: everything it touches comes in as an
// argument, so tests drive it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && (len(args[0]) == 0 || args[0][0] != '-') {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, args, getenv, stderr)
	case "validate-config":
		err = cmdValidate(args, getenv, stdout)
	case "hash-password":
		err = cmdHashPassword(args, stdin, stdout)
	case "healthcheck":
		err = cmdHealthcheck(ctx, args, getenv)
	case "token":
		err = cmdToken(args, stdout)
	case "version":
		err = cmdVersion(args, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return exitOK
	default:
		err = usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "gate: %s\n%s\n", ue.msg, usage)
		return exitUsage
	default:
		for _, line := range errorLines(err) {
			fmt.Fprintf(stderr, "gate: %s\n", line)
		}
		return exitError
	}
}

// errorLines splits a joined error into its lines, so every problem is one
// readable line.
func errorLines(err error) []string {
	var lines []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range j.Unwrap() {
				walk(inner)
			}
			return
		}
		lines = append(lines, e.Error())
	}
	walk(err)
	return lines
}
