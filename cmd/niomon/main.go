// Command niomon runs the Niomon server (passwordless sign-in, wallets on
// sign-up, the public API), its development stack, and its command-line
// client. See internal/niomoncmd.
package main

import (
	"io"
	"os"

	"github.com/niomon/niomon/internal/niomoncmd"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	return niomoncmd.Run(args, stdout, stderr)
}
