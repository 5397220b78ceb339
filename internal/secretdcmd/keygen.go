package secretdcmd

import (
	"fmt"
	"io"
	"os"

	"github.com/niomon/niomon/secretd"
)

// cmdKeygen writes a new static_key client key to --out (mode 0600, never
// over an existing file) and prints its public key for the allow-list.
func cmdKeygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keygen", stderr)
	out := fs.String("out", "", "file to write the private key to (must not exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out is required: the private key is never printed")
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
