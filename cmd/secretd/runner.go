package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/niomon/niomon/internal/runner"
	"github.com/niomon/niomon/internal/store"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/secretd"
)

// fileConfig is the optional JSON config file of runner and dev. Flags
// given on the command line win over it.
type fileConfig struct {
	Listen     string   `json:"listen"`
	Data       string   `json:"data"`
	Postgres   string   `json:"postgres"`
	Enclave    string   `json:"enclave"`
	ClientKeys []string `json:"client_keys"`
}

func loadFileConfig(path string) (fileConfig, error) {
	var c fileConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// keyList is a repeatable --client-key flag.
type keyList []string

func (k *keyList) String() string     { return strings.Join(*k, ",") }
func (k *keyList) Set(v string) error { *k = append(*k, v); return nil }

// runnerFlags are the flags runner and dev share.
type runnerFlags struct {
	listen, data, postgres, config, logLevel string
	clientKeys                               keyList
}

func (f *runnerFlags) register(fs *flag.FlagSet, defaultListen, defaultData string) {
	fs.StringVar(&f.listen, "listen", defaultListen, "client TCP address")
	fs.StringVar(&f.data, "data", defaultData, "data directory (SQLite store, dev keys)")
	fs.StringVar(&f.postgres, "postgres", "", "PostgreSQL DSN; the store is SQLite in --data when empty")
	fs.Var(&f.clientKeys, "client-key", "static_key client public key (base64) to allow; repeatable")
	fs.StringVar(&f.config, "config", "", "JSON config file: listen, data, postgres, enclave, client_keys")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
}

// resolve merges the config file under the flags that were set.
func (f *runnerFlags) resolve(fs *flag.FlagSet, enclaveAddr *string) ([]wire.PublicKey, error) {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	keys := []string(f.clientKeys)
	if f.config != "" {
		c, err := loadFileConfig(f.config)
		if err != nil {
			return nil, err
		}
		pick := func(dst *string, name, v string) {
			if !set[name] && v != "" {
				*dst = v
			}
		}
		pick(&f.listen, "listen", c.Listen)
		pick(&f.data, "data", c.Data)
		pick(&f.postgres, "postgres", c.Postgres)
		if enclaveAddr != nil {
			pick(enclaveAddr, "enclave", c.Enclave)
		}
		keys = append(keys, c.ClientKeys...)
	}
	if f.data == "" {
		return nil, usagef("--data is required")
	}
	var out []wire.PublicKey
	for i, k := range keys {
		p, err := wire.ParsePublicKey(k)
		if err != nil {
			return nil, usagef("client key %d: %v", i+1, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// open makes what runner and dev both need: the logger and the store.
// The caller closes the store.
func (f *runnerFlags) open(ctx context.Context, stderr io.Writer, component string) (*slog.Logger, store.Store, error) {
	log, err := newLogger(stderr, f.logLevel, component)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(f.data, 0o700); err != nil {
		return nil, nil, err
	}
	st, err := store.Open(ctx, f.data, f.postgres)
	return log, st, err
}

func cmdRunner(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("runner", stderr)
	var f runnerFlags
	f.register(fs, "127.0.0.1:9000", "")
	enclaveAddr := fs.String("enclave", "", "enclave socket: unix:PATH or vsock:CID:PORT")
	dev := fs.Bool("dev", false, "dev mode: hand the enclave the dev sealing key from --data")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	keys, err := f.resolve(fs, enclaveAddr)
	if err != nil {
		return err
	}
	if *enclaveAddr == "" {
		return usagef("--enclave is required")
	}
	log, st, err := f.open(ctx, stderr, "runner")
	if err != nil {
		return err
	}
	defer st.Close()
	cfg := runner.Config{Listen: f.listen, Enclave: *enclaveAddr, Store: st, ClientKeys: keys, Log: log}
	if *dev {
		if cfg.DevSealingKey, err = runner.LoadOrCreateDevSealingKey(f.data); err != nil {
			return err
		}
	}
	return runRunner(ctx, cfg, stdout, nil)
}

// runRunner runs a runner and prints the ready lines on stdout.
func runRunner(ctx context.Context, cfg runner.Config, stdout io.Writer, extra func()) error {
	r, err := runner.New(cfg)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	select {
	case err := <-errc:
		return err
	case <-r.Ready():
	}
	if extra != nil {
		extra()
	}
	fmt.Fprintf(stdout, "listen: %s\n", r.Addr())
	fmt.Fprintf(stdout, "cluster_identity: %s\n", r.Identity())
	if f, ok := stdout.(*os.File); ok {
		_ = f.Sync()
	}
	return <-errc
}

// devClientKey loads or creates DIR/dev-client.key, the key `secretd dev`
// allows when no --client-key is given.
func devClientKey(dir string, log *slog.Logger) (string, wire.PublicKey, error) {
	path := filepath.Join(dir, "dev-client.key")
	k, err := secretd.LoadKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if k, err = secretd.GenerateKey(); err != nil {
			return "", wire.PublicKey{}, err
		}
		if err := os.WriteFile(path, k.MarshalKeyFile(), 0o600); err != nil {
			return "", wire.PublicKey{}, err
		}
		log.Info("made a dev client key", "file", path)
	} else if err != nil {
		return "", wire.PublicKey{}, fmt.Errorf("%s: %w", path, err)
	}
	pub, err := wire.ParsePublicKey(k.PublicKey())
	return path, pub, err
}
