package niomoncmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/niomon/niomon/internal/apps"
	"github.com/niomon/niomon/internal/attest/devattest"
	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/childproc"
	"github.com/niomon/niomon/internal/devmail"
	"github.com/niomon/niomon/internal/mail"
	"github.com/niomon/niomon/internal/server"
	"github.com/niomon/niomon/internal/sqldb"
	"github.com/niomon/niomon/internal/store"
	"github.com/niomon/niomon/secretd"
)

// cmdDev runs the whole product on this machine, on embedded defaults:
// SQLite and the keys in a data directory, secretd (enclave and runner) as
// child processes in dev mode, a development mailbox, and the server.
// Ctrl-C stops everything; the next start finds the same users and
// wallets.
func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "HTTP address (loopback)")
	data := fs.String("data", filepath.Join(".data", "niomon"), "data directory")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	demo := fs.String("demo", "127.0.0.1:8081", `HTTP address of the demo dApp (loopback), served at an origin of its own; "none" to not serve it`)
	config := fs.String("config", "", "optional config file: its rate_limits, users, sessions, oidc, admins and phishing settings apply (also NIOMON_* variables)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	over, err := server.LoadConfig(*config, os.Environ())
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		return usagef("--listen: niomon dev serves only on loopback, e.g. 127.0.0.1:8080")
	}
	var demoLn net.Listener
	if *demo != "none" {
		h, _, err := net.SplitHostPort(*demo)
		if ip := net.ParseIP(h); err != nil || (h != "localhost" && (ip == nil || !ip.IsLoopback())) {
			return usagef(`--demo: the demo dApp is served only on loopback, e.g. 127.0.0.1:8081 (or "none")`)
		}
		if demoLn, err = net.Listen("tcp", *demo); err != nil {
			return fmt.Errorf("--demo: %w", err)
		}
		defer demoLn.Close()
	}
	if err := store.PrivateDir(*data); err != nil {
		return err
	}
	tokens, err := loadOrCreateTokenKey(filepath.Join(*data, "token.key"))
	if err != nil {
		return err
	}

	// secretd, as "niomon secretd dev" in a child process.
	sd, err := startSecretd(ctx, filepath.Join(*data, "secretd"), *logLevel, stderr)
	if err != nil {
		return err
	}
	defer sd.stop()

	mbox, err := devmail.Start(ctx, "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("starting the dev mailbox: %w", err)
	}
	defer mbox.Close()
	_, mport, _ := net.SplitHostPort(mbox.Addr())
	port, _ := strconv.Atoi(mport)
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: mail.TLSNone, From: "Niomon <no-reply@niomon.localhost>"})
	if err != nil {
		return err
	}

	db, err := authdb.Open(ctx, sqldb.Config{SQLitePath: filepath.Join(*data, "niomon.db")})
	if err != nil {
		return err
	}
	defer db.Close()

	key, err := secretd.LoadKeyFile(sd.keyFile)
	if err != nil {
		return err
	}
	// The dev enclave is this very executable ("niomon secretd dev"
	// re-executes it), so its dev measurement, PCR0, is known here.
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	pcr0, err := devattest.Measure(exe)
	if err != nil {
		return err
	}
	client, err := secretd.Dial(ctx, sd.addr, secretd.Options{Identity: sd.identity, Key: key,
		Attestation: &secretd.AttestationPolicy{AllowDev: true, PCRs: map[int][]byte{0: pcr0}}})
	if err != nil {
		return fmt.Errorf("connecting to secretd: %w", err)
	}
	defer client.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	// localhost, not the IP: WebAuthn needs a domain as the RP ID, and
	// browsers treat http://localhost as a secure context.
	_, lport, _ := net.SplitHostPort(ln.Addr().String())
	publicURL := "http://localhost:" + lport
	cfg := server.DevConfig(publicURL)
	cfg.RateLimits, cfg.Users, cfg.Sessions, cfg.OIDC = over.RateLimits, over.Users, over.Sessions, over.OIDC
	cfg.Admins, cfg.Phishing = over.Admins, over.Phishing
	opts := server.Options{Config: cfg, DB: db, Mail: sender, Secretd: client, Tokens: tokens, Log: log, DevMailbox: mbox.Handler()}
	demoURL := ""
	if demoLn != nil {
		// Its own origin: localhost, on its own port.
		_, dport, _ := net.SplitHostPort(demoLn.Addr().String())
		demoURL = "http://localhost:" + dport
		opts.BuiltinApps = []authdb.App{demoApp(demoURL)}
		opts.BuiltinIcons = map[string]apps.Icon{demoAppID: demoIcon()}
	}
	srv, err := server.New(ctx, opts)
	if err != nil {
		ln.Close()
		return err
	}
	if demoLn != nil {
		ds := newHTTPServer(demoHandler(publicURL), log, readTimeout)
		go func() { _ = ds.Serve(demoLn) }()
		defer ds.Close()
	}
	fmt.Fprintf(stdout, "niomon is running (data in %s)\n", *data)
	fmt.Fprintf(stdout, "  open:     %s/   (the web wallet: sign up with your email)\n", publicURL)
	if demoURL != "" {
		fmt.Fprintf(stdout, "  demo:     %s/   (a dApp that uses your wallet, once you have signed up)\n", demoURL)
	}
	fmt.Fprintf(stdout, "  mailbox:  %s/dev/mailbox/   (the sign-in codes land here)\n", publicURL)
	fmt.Fprintf(stdout, "  terminal: go run ./cmd/niomon client --server %s email login you@example.com\n", publicURL)
	fmt.Fprintf(stdout, "  enclave:  dev, PCR0 %x (add --allow-dev-enclave --pcr 0=%x to check its attestation)\n", pcr0, pcr0)
	fmt.Fprintf(stdout, "  Ctrl-C stops everything.\n")
	return serveUntilDone(ctx, log, srv, ln, sd.done, nil)
}

// How long a client may take over its part of an exchange. A request's
// headers and body must arrive within readTimeout (a body dripped a byte
// at a time is cut off; the largest, 400 KiB, needs about 55 kbit/s), and
// the answer must be taken within writeTimeout of the headers.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 90 * time.Second
	idleTimeout       = 2 * time.Minute
)

// newHTTPServer is the HTTP server in front of h, with the timeouts above
// (readTimeout given, for tests).
func newHTTPServer(h http.Handler, log *slog.Logger, read time.Duration) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: min(readHeaderTimeout, read), ReadTimeout: read,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// serveUntilDone serves HTTP and runs housekeeping until ctx ends (or
// secretd stops), then shuts down gracefully.
func serveUntilDone(ctx context.Context, log *slog.Logger, srv *server.Server, ln net.Listener, secretdDone <-chan struct{}, fatal <-chan error) error {
	hs := newHTTPServer(srv, log, readTimeout)
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Sign-ups a crash cut short are finished or removed before the
	// server answers anyone.
	if res, err := srv.Reconcile(ctx); err != nil {
		log.Error("reconciling sign-ups failed", "err", err)
	} else {
		log.Info("reconciled sign-ups", "activated", res.Activated, "removed", res.Removed)
	}
	go srv.RunHousekeeping(hctx, 10*time.Minute)
	go srv.RunPhishingSync(hctx, time.Minute)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case <-secretdDone:
		err = errors.New("secretd stopped")
	case err = <-fatal:
	case err = <-errc:
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	_ = hs.Shutdown(sctx)
	if err == nil {
		log.Info("stopped")
	}
	return err
}

// devSecretd is a "niomon secretd dev" child process.
type devSecretd struct {
	cmd      *exec.Cmd
	addr     string
	identity string
	keyFile  string
	done     chan struct{}
}

// startSecretd starts secretd dev on a free loopback port and waits for
// its ready lines.
func startSecretd(ctx context.Context, dir, logLevel string, stderr io.Writer) (*devSecretd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "secretd", "dev", "--listen", "127.0.0.1:0", "--data", dir, "--log-level", logLevel)
	cmd.Stderr = stderr
	childproc.Bind(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting secretd: %w", err)
	}
	d := &devSecretd{cmd: cmd, done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ": ")
			switch k {
			case "listen":
				d.addr = v
			case "dev_client_key_file":
				d.keyFile = v
			case "cluster_identity":
				if d.identity == "" {
					d.identity = v
					ready <- nil
				}
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() {
		_ = cmd.Wait()
		close(d.done)
	}()
	select {
	case <-ready:
	case <-d.done:
		return nil, errors.New("secretd exited before it was ready (see its log above)")
	case <-time.After(60 * time.Second):
		d.stop()
		return nil, errors.New("secretd was not ready within 60 seconds")
	case <-ctx.Done():
		d.stop()
		return nil, ctx.Err()
	}
	if d.keyFile == "" {
		d.keyFile = filepath.Join(dir, "dev-client.key")
	}
	return d, nil
}

// stop asks secretd to stop and kills it after 10 seconds.
func (d *devSecretd) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// loadOrCreateTokenKey reads the token key file, making it on first use.
func loadOrCreateTokenKey(path string) (*server.TokenKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, b64, err := server.NewTokenKey()
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		if _, err := f.WriteString(b64 + "\n"); err != nil {
			f.Close()
			return nil, err
		}
		return k, f.Close()
	}
	if err != nil {
		return nil, err
	}
	return server.ParseTokenKey(strings.TrimSpace(string(b)))
}
