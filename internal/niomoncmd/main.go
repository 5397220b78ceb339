// Package niomoncmd is the niomon command: the server, its one-command
// development stack, migrations, and the command-line client.
//
//	niomon dev     [--listen 127.0.0.1:8080] [--demo 127.0.0.1:8081] [--data .data/niomon]
//	niomon serve   --config FILE
//	niomon migrate --config FILE
//	niomon client  [--server URL] [--json] COMMAND ...
//	niomon phishing check [--app-domain D]... [--list FILE]... [URL...]
//	niomon secretd ...                (the secretd command, built in)
//
// Logs go to stderr; stdout carries what a person or a script reads.
package niomoncmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/niomon/niomon/internal/buildinfo"
	"github.com/niomon/niomon/internal/secretdcmd"
)

const usage = `niomon: passwordless sign-in and wallets on every chain, with keys in secretd.

Usage:
  niomon dev     [--listen ADDR] [--demo ADDR] [--data DIR] [--config FILE] [--log-level LEVEL]
                 everything on this machine: SQLite, secretd, a mailbox, the server, a demo dApp
  niomon serve   --config FILE [--log-level LEVEL]
                 the server, for production (settings also from NIOMON_* variables)
  niomon migrate --config FILE
                 bring the database schema up to date
  niomon client  [--server URL] [--json] COMMAND ...
                 the command-line client (run "niomon client help")
  niomon phishing check [--app-domain DOMAIN]... [--list FILE]... [--json] [URL...]
                 judge sites as the server does (run "niomon phishing help")
  niomon secretd COMMAND ...
                 the secretd key service (run "niomon secretd help")
  niomon version
                 the module version and the revision this binary was built from
`

// Run runs niomon with args (without the program name) and returns the
// exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if args[0] == "secretd" {
		secretdcmd.SelfArgs = []string{"secretd"}
		return secretdcmd.Run(args[1:], stdout, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "dev":
		err = cmdDev(ctx, args[1:], stdout, stderr)
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], stdout, stderr)
	case "client":
		err = cmdClient(ctx, args[1:], stdout, stderr)
	case "phishing":
		err = cmdPhishing(args[1:], os.Stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "niomon", buildinfo.Read())
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "niomon: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "niomon: %v\n", err)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "niomon: %v\n", err)
		return 1
	}
	return 0
}

type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("niomon "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	return nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level: want debug, info, warn or error")
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
