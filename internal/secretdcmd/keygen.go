package secretdcmd

import (
	"fmt"
	"io"
	"os"

	"github.com/niomon/niomon/secretd"
)

// cmdKeygen writes a new static_key client key to --out (mode 0600, never
// over an existing file) and prints its public key for the allow-list;
// with --show it prints an existing key file's public key again.
func cmdKeygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keygen", stderr)
	out := fs.String("out", "", "file to write the private key to (must not exist)")
	show := fs.String("show", "", "an existing key file: print its public key again")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *show != "" {
		if *out != "" {
			return usagef("--show and --out: one or the other")
		}
		k, err := secretd.LoadKeyFile(*show)
		if err != nil {
			return fmt.Errorf("--show %s: %w", *show, err)
		}
		fmt.Fprintf(stdout, "public_key: %s\n", k.PublicKey())
		return nil
	}
	if *out == "" {
		return usagef("--out is required: the private key is never printed (--show FILE prints an existing key's public key)")
	}
	k, err := secretd.GenerateKey()
	if err != nil {
		return err
	}
	if err := writeNew(*out, k.MarshalKeyFile()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "public_key: %s\n", k.PublicKey())
	return nil
}

// writeNew writes a new file with mode 0600; an existing file is an
// error, never overwritten.
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
