// Command secretd runs Niomon's key-management enclave and its runner.
// See internal/secretdcmd.
package main

import (
	"io"
	"os"

	"github.com/niomon/niomon/internal/secretdcmd"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	return secretdcmd.Run(args, stdout, stderr)
}
