package secretdcmd

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
	"sync"

	"github.com/fxamacker/cbor/v2"
	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/ceremony"
	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/runner"
	"github.com/niomon/niomon/internal/store"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/internal/witness"
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
	Witnesses  []string `json:"witnesses"`
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
	witnesses                                keyList
}

func (f *runnerFlags) register(fs *flag.FlagSet, defaultListen, defaultData string) {
	fs.StringVar(&f.listen, "listen", defaultListen, "client TCP address")
	fs.StringVar(&f.data, "data", defaultData, "data directory (SQLite store, dev keys)")
	fs.StringVar(&f.postgres, "postgres", "", "PostgreSQL DSN; the store is SQLite in --data when empty")
	fs.Var(&f.clientKeys, "client-key", "static_key client public key (base64) to allow; repeatable")
	fs.Var(&f.witnesses, "witness", "a freshness witness's address, in the order the genesis names them; repeatable")
	fs.StringVar(&f.config, "config", "", "JSON config file: listen, data, postgres, enclave, client_keys, witnesses")
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
		if len(f.witnesses) == 0 {
			f.witnesses = c.Witnesses
		}
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
	if err := store.PrivateDir(f.data); err != nil {
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
	devGen := fs.Bool("dev-genesis", false, "with --dev: if the cluster does not exist, run its genesis ceremony here with dev holders in DATA/dev-genesis (nothing is secret from this machine)")
	var m modeFlags
	m.register(fs)
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
	cfg := runner.Config{Listen: f.listen, Enclave: *enclaveAddr, Store: st, ClientKeys: keys, Witnesses: f.witnesses, Log: log}
	if err := m.apply(&cfg); err != nil {
		return err
	}
	if *dev {
		if cfg.DevSealingKey, err = runner.LoadOrCreateDevSealingKey(f.data); err != nil {
			return err
		}
	}
	var g *devGenesis
	switch {
	case *devGen && !*dev:
		return usagef("--dev-genesis needs --dev")
	case *devGen:
		if g, err = newDevGenesis(f.data, log); err != nil {
			return err
		}
		g.witnesses = f.witnesses
		cfg.ClientKeys = append(cfg.ClientKeys, g.pub)
	}
	return runRunner(ctx, cfg, stdout, nil, g)
}

// devGenesis runs a dev cluster's genesis ceremony from the runner's
// machine, with the dev holders and a client key of DATA/dev-genesis.
type devGenesis struct {
	dir       string
	key       secretd.Key
	pub       wire.PublicKey
	log       *slog.Logger
	witnesses []string // addresses; their keys are asked of them
}

func newDevGenesis(data string, log *slog.Logger) (*devGenesis, error) {
	dir := filepath.Join(data, "dev-genesis")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "genesis-client.key")
	k, err := secretd.LoadKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if k, err = secretd.GenerateKey(); err == nil {
			err = writeNew(path, k.MarshalKeyFile())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pub, err := wire.ParsePublicKey(k.PublicKey())
	if err != nil {
		return nil, err
	}
	return &devGenesis{dir: dir, key: k, pub: pub, log: log}, nil
}

func (g *devGenesis) run(ctx context.Context, addr string, genesisIdentity wire.PublicKey) error {
	g.log.Warn("DEV GENESIS: running the cluster's DRK ceremony with dev holders; their identities and every share are in " + g.dir)
	var ws []api.WitnessSpec
	for i, a := range g.witnesses {
		k, err := witness.Info(ctx, a)
		if err != nil {
			return fmt.Errorf("witness %s: %w", a, err)
		}
		ws = append(ws, api.WitnessSpec{Name: fmt.Sprintf("witness-%d", i+1), Key: k})
	}
	quorum := 0
	if len(ws) > 0 {
		quorum = len(ws)/2 + 1 // a majority acknowledges each change
	}
	_, err := ceremony.Dev(ctx, addr, genesisIdentity.Bytes(), g.key, g.dir, ws, quorum)
	return err
}

// runRunner runs a runner and prints the ready lines on stdout: listen,
// then cluster_identity; in recovery mode recovery_identity first, and for
// a cluster that does not exist yet genesis_identity first, then
// cluster_identity once the cluster is recovered or born. With g, a
// genesis is run here.
func runRunner(ctx context.Context, cfg runner.Config, stdout io.Writer, extra func(), g *devGenesis) error {
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
	var mu sync.Mutex
	say := func(k, v string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stdout, "%s: %s\n", k, v)
		if f, ok := stdout.(*os.File); ok {
			_ = f.Sync()
		}
	}
	say("listen", r.Addr().String())
	select {
	case <-r.Identified():
		say("cluster_identity", r.Identity().String())
		return <-errc
	default:
	}
	select {
	case <-r.Genesis():
		say("genesis_identity", r.GenesisIdentity().String())
		if g != nil {
			go func() {
				if err := g.run(ctx, r.Addr().String(), r.GenesisIdentity()); err != nil && ctx.Err() == nil {
					select {
					case errc <- fmt.Errorf("dev genesis: %w", err):
					default:
					}
				}
			}()
		}
	default:
		say("recovery_identity", r.RecoveryIdentity().String())
	}
	go func() {
		select {
		case <-r.Identified():
			say("cluster_identity", r.Identity().String())
		case <-ctx.Done():
		}
	}()
	return <-errc
}

// joinFunc takes a joining enclave's document to a running cluster.
func joinFunc(addr, identity, keyFile string) (func(context.Context, []byte) ([]byte, error), error) {
	key, err := secretd.LoadKeyFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--join-key: %w", err)
	}
	return func(ctx context.Context, doc []byte) ([]byte, error) {
		c, err := secretd.Dial(ctx, addr, secretd.Options{Identity: identity, Key: key, PoolSize: 1})
		if err != nil {
			return nil, err
		}
		defer c.Close()
		var reply cbor.RawMessage
		if err := c.Call(ctx, "system_join", []any{doc}, &reply); err != nil {
			return nil, err
		}
		return reply, nil
	}, nil
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

// modeFlags choose the enclave's boot mode.
type modeFlags struct {
	recover                         bool
	joinAddr, joinIdentity, joinKey string
}

func (m *modeFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&m.recover, "recover", false, "start the enclave in disaster-recovery mode (see docs/disaster-recovery.md)")
	fs.StringVar(&m.joinAddr, "join", "", "join a running cluster at this runner address: its enclave hands ours the master key")
	fs.StringVar(&m.joinIdentity, "join-identity", "", "with --join: the cluster identity")
	fs.StringVar(&m.joinKey, "join-key", "", "with --join: a client key file allowed by the running cluster")
}

func (m *modeFlags) apply(cfg *runner.Config) error {
	switch {
	case m.recover && m.joinAddr != "":
		return usagef("--recover and --join exclude each other")
	case m.recover:
		cfg.Mode = hostlink.ModeRecover
	case m.joinAddr != "":
		if m.joinIdentity == "" || m.joinKey == "" {
			return usagef("--join needs --join-identity and --join-key")
		}
		j, err := joinFunc(m.joinAddr, m.joinIdentity, m.joinKey)
		if err != nil {
			return err
		}
		cfg.Mode, cfg.Join = hostlink.ModeJoin, j
	}
	return nil
}
