package secretdcmd

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"

	"github.com/niomon/niomon/internal/witness"
)

// cmdWitness runs a freshness witness: what an independent party runs for
// a cluster (docs/secretd-operations.md). It prints its key, which the
// genesis statement names, and its address.
func cmdWitness(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("witness", stderr)
	listen := fs.String("listen", "127.0.0.1:9100", "TCP address to serve")
	data := fs.String("data", "", "directory for the witness key and its state")
	var clusters stringList
	fs.Var(&clusters, "cluster", "serve only this cluster witness key (base64, from the genesis transcript); repeatable")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *data == "" {
		return usagef("--data is required")
	}
	log, err := newLogger(stderr, *logLevel, "witness")
	if err != nil {
		return err
	}
	cfg := witness.Config{Data: *data, Log: log}
	for i, c := range clusters {
		k, err := base64.StdEncoding.DecodeString(c)
		if err != nil || len(k) != 32 {
			return usagef("--cluster %d: want a base64 Ed25519 key", i+1)
		}
		cfg.Clusters = append(cfg.Clusters, k)
	}
	w, err := witness.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer w.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "witness_key: %s\n", base64.StdEncoding.EncodeToString(w.PublicKey()))
	fmt.Fprintf(stdout, "listen: %s\n", ln.Addr())
	return w.Serve(ctx, ln)
}
