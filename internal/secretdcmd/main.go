// Package secretdcmd is the secretd command: Niomon's key-management
// enclave and its runner. cmd/secretd is a thin main around Run; niomon
// dev runs the same code as "niomon secretd …".
//
//	secretd dev     --listen 127.0.0.1:9000 --data DIR [--client-key B64]...
//	secretd enclave --dev --listen unix:/path        (or --listen vsock:PORT in Nitro)
//	secretd runner  --listen 127.0.0.1:9000 --enclave unix:/path --data DIR [--postgres DSN]
//	secretd keygen  --out FILE
//
// Logs go to stderr. Stdout carries only machine-readable "key: value"
// lines, such as "cluster_identity: …" once the cluster is ready.
package secretdcmd

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

	"github.com/niomon/niomon/internal/attest/devattest"
	"github.com/niomon/niomon/internal/buildinfo"
	"github.com/niomon/niomon/internal/enclavecmd"
)

const usage = `secretd: Niomon's key-management enclave and its runner.

Usage:
  secretd dev     --listen ADDR --data DIR [--client-key B64]... [--config FILE]
                  both halves on one machine, the enclave as a child process
  secretd enclave --listen unix:PATH|vsock:PORT [--dev]
                  the trusted half
  secretd runner  --listen ADDR --enclave unix:PATH|vsock:CID:PORT --data DIR
                  [--postgres DSN] [--client-key B64]... [--config FILE] [--dev]
                  the untrusted half: client relay and sealed-object store
  secretd keygen  --out FILE
                  make a static_key client key; prints its public key
  secretd witness --listen ADDR --data DIR [--cluster KEY]...
                  a freshness witness, run by an independent party
  secretd ceremony holder-key|genesis-statement|approve|genesis|rotate-statement|rotate|paper|recovery-key|submit-share|recover ...
                  the Disaster Recovery Key: genesis, rotation and recovery
  secretd version

Run "secretd COMMAND -h" for a command's flags.
`

// SelfArgs are the arguments that make this binary run secretd, for the
// child processes secretd starts (the dev enclave): none for the secretd
// binary, ["secretd"] inside niomon.
var SelfArgs []string

// Run runs secretd with args (without the program name) and returns the
// exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "dev":
		err = cmdDev(ctx, args[1:], stdout, stderr)
	case "enclave":
		if err = enclavecmd.Run(ctx, args[1:], stderr); err != nil {
			var ue enclavecmd.UsageError
			if errors.As(err, &ue) {
				err = usageError{ue}
			}
		}
	case "runner":
		err = cmdRunner(ctx, args[1:], stdout, stderr)
	case "keygen":
		err = cmdKeygen(args[1:], stdout, stderr)
	case "witness":
		err = cmdWitness(ctx, args[1:], stdout, stderr)
	case "ceremony":
		err = cmdCeremony(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "secretd", buildinfo.Read())
		printMeasurement(stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "secretd: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "secretd %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(stderr, "secretd %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// usageError is a bad command line; it exits 2.
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func newLogger(w io.Writer, level string, component string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level: want debug, info, warn or error")
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})).With("component", component), nil
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("secretd "+name, flag.ContinueOnError)
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
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// printMeasurement prints the measurement a client pins for an enclave run
// from this executable: in dev mode, PCR0 is the executable's SHA-384
// (devattest.Measure); on Nitro, PCR0-2 are the enclave image's.
func printMeasurement(stdout io.Writer) {
	exe, err := os.Executable()
	var m []byte
	if err == nil {
		m, err = devattest.Measure(exe)
	}
	if err != nil {
		fmt.Fprintf(stdout, "dev_pcr0: unknown (%v)\n", err)
	} else {
		fmt.Fprintf(stdout, "dev_pcr0: %x\n", m)
	}
	fmt.Fprintln(stdout, "nitro_pcrs: those of the enclave image built from this executable (nitro-cli describe-eif prints PCR0-2); pin them in the clients' attestation policy")
}
