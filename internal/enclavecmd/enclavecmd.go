// Package enclavecmd is the enclave's command line: the one program that
// runs inside the TEE. cmd/secretd-enclave is its binary for enclave
// images, and "secretd enclave" runs the same code for dev clusters. It
// imports the enclave, attestation and the socket, and nothing of the
// runner, the store or the niomon server (cmd/secretd-enclave's
// imports_test.go pins what it links).
package enclavecmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/niomon/niomon/internal/attest"
	"github.com/niomon/niomon/internal/attest/devattest"
	"github.com/niomon/niomon/internal/attest/nitro"
	"github.com/niomon/niomon/internal/enclave"
	"github.com/niomon/niomon/internal/sock"
)

// UsageError is a bad command line.
type UsageError struct{ error }

func usagef(format string, a ...any) error { return UsageError{fmt.Errorf(format, a...)} }

// Run runs the enclave with args (without the program name) until ctx
// ends. A bad command line is a UsageError; -h is flag.ErrHelp.
func Run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("secretd enclave", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "the one socket: unix:PATH (dev) or vsock:PORT (Nitro)")
	dev := fs.Bool("dev", false, "dev mode: dev attestation and the runner's dev sealing key. Never in a real TEE")
	plainImport := fs.Bool("dev-allow-plaintext-import", false, "dev only: offer hdwallet_import_with_policy, which takes a mnemonic in plaintext inside the session")
	cacheSize := fs.Int("cache-size", 4096, "unsealed wallets kept in memory")
	replayCache := fs.Int("replay-cache", 1<<19, "nonces of stamped requests remembered; 45 to 64 bytes each (measured), and n of them sustain n/240 requests per second")
	memLimit := fs.Int("memory-limit-mib", 48, "Go heap limit in MiB (Nitro enclaves have fixed, small memory)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return UsageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *listen == "" {
		return usagef("--listen is required")
	}
	if *plainImport && !*dev {
		return usagef("--dev-allow-plaintext-import needs --dev")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("--log-level: want debug, info, warn or error")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("component", "enclave")
	debug.SetMemoryLimit(int64(*memLimit) << 20)

	cfg := enclave.Config{Dev: *dev, AllowPlaintextImport: *plainImport, CacheSize: *cacheSize, ReplayCacheSize: *replayCache, Log: log}
	if *dev {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		m, err := devattest.Measure(exe)
		if err != nil {
			return fmt.Errorf("measuring the executable: %w", err)
		}
		if cfg.Attester, err = devattest.New(m); err != nil {
			return err
		}
		// Replicas check each other: the dev root, and the same binary.
		cfg.PeerPolicy = attest.Policy{Roots: devattest.Roots(), PCRs: map[int][]byte{0: m}}
		log.Warn("DEV MODE: attestation is signed by the public dev root and the master key by the runner's dev key; nothing here is secret from the host")
	} else {
		p, err := nitro.Open()
		if err != nil {
			return fmt.Errorf("opening the Nitro Security Module (use --dev outside a Nitro enclave): %w", err)
		}
		defer p.Close()
		cfg.Attester = p
		// Sealing the master key in Nitro needs AWS KMS with this
		// enclave's attestation as the recipient, through the runner's
		// outbound relay. This build has no KMS client.
		return errors.New("nitro mode: this build has no AWS KMS master-key sealer; run with --dev")
	}
	e, err := enclave.New(cfg)
	if err != nil {
		return err
	}
	ln, err := sock.Listen(*listen)
	if err != nil {
		return err
	}
	log.Info("enclave listening", "socket", *listen)
	return e.Serve(ctx, ln)
}
