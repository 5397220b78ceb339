// Command secretd-enclave is the program of a secretd enclave image: the
// trusted half of secretd and nothing else (see internal/enclavecmd). The
// runner, the store and the client are in cmd/secretd.
//
//	secretd-enclave --listen vsock:5000
//	secretd-enclave --dev --listen unix:/run/secretd/enclave.sock
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/niomon/niomon/internal/enclavecmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := enclavecmd.Run(ctx, os.Args[1:], os.Stderr)
	stop()
	var ue enclavecmd.UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "secretd-enclave: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "secretd-enclave: %v\n", err)
		os.Exit(1)
	}
}
