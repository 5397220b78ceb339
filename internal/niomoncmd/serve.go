package niomoncmd

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"crypto/tls"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/mail"
	"github.com/niomon/niomon/internal/server"
	"github.com/niomon/niomon/internal/sqldb"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/secretd"
)

// loadConfig reads and validates --config (and NIOMON_* variables).
func loadConfig(path string) (*server.Config, error) {
	cfg, err := server.LoadConfig(path, os.Environ())
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func dbConfig(cfg *server.Config) sqldb.Config {
	if cfg.Database.Postgres != "" {
		return sqldb.Config{PostgresDSN: cfg.Database.Postgres}
	}
	return sqldb.Config{SQLitePath: cfg.Database.SQLite}
}

// cmdMigrate brings the schema up to date and reports the version.
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	config := fs.String("config", "", "config file (settings may also come from NIOMON_* variables)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := server.LoadConfig(*config, os.Environ())
	if err != nil {
		return err
	}
	if cfg.Database.Postgres == "" && cfg.Database.SQLite == "" {
		return &server.SettingError{Setting: "database.postgres", Problem: "set database.postgres (or database.sqlite)"}
	}
	db, err := sqldb.Open(ctx, dbConfig(cfg))
	if err != nil {
		return err
	}
	defer db.Close()
	before, err := db.SchemaVersion(ctx, authdb.Migrations.Name)
	if err != nil {
		return err
	}
	if err := db.Migrate(ctx, authdb.Migrations); err != nil {
		return err
	}
	after, err := db.SchemaVersion(ctx, authdb.Migrations.Name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema %s: version %d (was %d)\n", authdb.Migrations.Name, after, before)
	return nil
}

// openMigrated opens the database and refuses a schema that niomon
// migrate has not brought up to date.
func openMigrated(ctx context.Context, cfg *server.Config) (*authdb.DB, error) {
	db, err := sqldb.Open(ctx, dbConfig(cfg))
	if err != nil {
		return nil, err
	}
	v, err := db.SchemaVersion(ctx, authdb.Migrations.Name)
	if err == nil {
		var pending []sqldb.Migration
		if pending, err = authdb.Migrations.Pending(db.Name(), v); err == nil && len(pending) > 0 {
			err = fmt.Errorf("the database schema is at version %d and %d migration(s) are pending: run niomon migrate --config FILE first", v, len(pending))
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	d, err := authdb.New(ctx, db) // a no-op migration: the schema is current
	if err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// claimDeployment checks that this server uses the secretd client key
// and cluster of the deployment whose database it shares: the first
// server to start records them, and a server with another is refused,
// since a wallet answers only the client key that made it (its users
// would find their wallets missing) and lives only in its cluster.
// With record, a database that names none records these; without, it is
// only checked.
func claimDeployment(ctx context.Context, db *authdb.DB, key secretd.Key, identity string, record bool) error {
	// The canonical form: one key written two ways is one cluster.
	if id, err := wire.ParsePublicKey(identity); err == nil {
		identity = id.String()
	}
	for _, c := range []struct {
		name, value, setting, what, fix string
	}{
		{authdb.DeploymentSecretdClientKey, key.PublicKey(), "secretd.key_file", "secretd client key",
			"a wallet answers only the client key that made it: give every server of one deployment the same key file"},
		{authdb.DeploymentSecretdCluster, identity, "secretd.identity", "secretd cluster",
			"the users' wallets live in that cluster: point every server of one deployment at it"},
	} {
		var got string
		var since time.Time
		var err error
		if record {
			got, since, err = db.ClaimDeployment(ctx, c.name, c.value, time.Now())
		} else {
			got, since, err = db.DeploymentSetting(ctx, c.name)
		}
		if err != nil {
			return err
		}
		if got != "" && got != c.value {
			return &server.SettingError{Setting: c.setting, Problem: fmt.Sprintf("this server's %s is %s, but the database belongs to a deployment that has used %s since %s; %s (docs/niomon-operations.md, \"Several servers\")",
				c.what, c.value, got, since.UTC().Format(time.RFC3339), c.fix)}
		}
	}
	return nil
}

// claimOnceSecretdAnswers records the deployment's key and cluster once
// secretd first accepts them (a server that started before secretd). A
// refusal then (another server recorded others meanwhile) ends the
// server; nil when ctx ends first.
func claimOnceSecretdAnswers(ctx context.Context, db *authdb.DB, client *secretd.Client, key secretd.Key, identity string) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := client.Ping(pctx)
		cancel()
		if err != nil {
			continue
		}
		err = claimDeployment(ctx, db, key, identity, true)
		var se *server.SettingError
		if err == nil || errors.As(err, &se) {
			return err
		}
		// The database did not answer: try again.
	}
}

// cmdServe runs the server for production.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	config := fs.String("config", "", "config file (settings may also come from NIOMON_* variables)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*config)
	if err != nil {
		return err
	}
	tokens, err := readTokenKey(cfg.TokenKeyFile)
	if err != nil {
		return err
	}
	sender, err := smtpSender(cfg)
	if err != nil {
		return err
	}
	if err := checkRelay(ctx, sender, cfg); err != nil {
		return err
	}
	key, err := secretd.LoadKeyFile(cfg.Secretd.KeyFile)
	var pe *os.PathError
	switch {
	case errors.As(err, &pe):
		return unreadable("secretd.key_file", cfg.Secretd.KeyFile, err, "this server's secretd client key (niomon secretd keygen --out FILE writes one)")
	case err != nil:
		return &server.SettingError{Setting: "secretd.key_file", Problem: cfg.Secretd.KeyFile + " is not a secretd client key file (niomon secretd keygen --out FILE writes one)"}
	}
	att, err := attestationPolicy(cfg)
	if err != nil {
		return err
	}
	db, err := openMigrated(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	// Refused at once if the database names another key or cluster; the
	// first server records its own only once secretd has accepted them.
	if err := claimDeployment(ctx, db, key, cfg.Secretd.Identity, false); err != nil {
		return err
	}
	// secretd may start after the server: serve unready until it answers
	// (a refusal, a wrong identity or attestation, still stops here).
	client, err := secretd.DialCluster(ctx, cfg.Secretd.Addrs, secretd.Options{Identity: cfg.Secretd.Identity, Key: key, Attestation: att, StartUnreachable: true})
	var refused *secretd.RefusedError
	switch {
	case errors.As(err, &refused) && refused.Reason == wire.RefuseHandshake:
		return &server.SettingError{Setting: "secretd.identity", Problem: err.Error()}
	case errors.As(err, &refused) && refused.Reason == wire.RefuseAuth:
		return &server.SettingError{Setting: "secretd.key_file", Problem: err.Error()}
	case err != nil:
		return fmt.Errorf("connecting to secretd: %w", err)
	}
	defer client.Close()
	fatal := make(chan error, 1)
	if err := client.Ping(ctx); err != nil {
		log.Warn("secretd does not answer yet: serving, unready (/readyz), until it does", "addrs", strings.Join(cfg.Secretd.Addrs, ","), "err", err)
		go func() {
			if err := claimOnceSecretdAnswers(ctx, db, client, key, cfg.Secretd.Identity); err != nil {
				fatal <- err
			}
		}()
	} else if err := claimDeployment(ctx, db, key, cfg.Secretd.Identity, true); err != nil {
		return err
	}
	srv, err := server.New(ctx, server.Options{Config: cfg, DB: db, Mail: sender, Secretd: client, Tokens: tokens, Log: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	if cfg.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			ln.Close()
			return &server.SettingError{Setting: "tls.cert_file", Problem: "the certificate and key do not load: " + err.Error()}
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
	}
	fmt.Fprintf(stdout, "listen: %s\n", ln.Addr())
	return serveUntilDone(ctx, log, srv, ln, nil, fatal)
}

// unreadable says why a secret file named by setting cannot be read, and
// what it should hold (never its content).
func unreadable(setting, path string, err error, holds string) error {
	why := err.Error()
	var pe *os.PathError
	if errors.As(err, &pe) {
		why = pe.Err.Error()
	}
	return &server.SettingError{Setting: setting, Problem: fmt.Sprintf("%s cannot be read (%s); it should hold %s, readable by this server's user only", path, why, holds)}
}

func readTokenKey(path string) (*server.TokenKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, unreadable("token_key_file", path, err, "32 random bytes in base64 (head -c 32 /dev/urandom | base64)")
	}
	k, err := server.ParseTokenKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, &server.SettingError{Setting: "token_key_file", Problem: err.Error()}
	}
	return k, nil
}

func smtpSender(cfg *server.Config) (*mail.SMTP, error) {
	sc := mail.SMTPConfig{Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, Username: cfg.SMTP.Username, From: cfg.SMTP.From, TLS: cfg.SMTP.TLS}
	if cfg.SMTP.PasswordFile != "" {
		b, err := os.ReadFile(cfg.SMTP.PasswordFile)
		if err != nil {
			return nil, unreadable("smtp.password_file", cfg.SMTP.PasswordFile, err, "the SMTP relay's password")
		}
		sc.Password = strings.TrimRight(string(b), "\r\n")
	}
	s, err := mail.NewSMTP(sc)
	var ce *mail.ConfigError
	if errors.As(err, &ce) {
		return nil, &server.SettingError{Setting: "smtp." + strings.ToLower(ce.Field), Problem: ce.Reason}
	}
	if err != nil {
		return nil, &server.SettingError{Setting: "smtp", Problem: err.Error()}
	}
	return s, nil
}

// checkRelay connects to the SMTP relay as a sign-in mail would, so that a
// wrong port or TLS mode stops the server at start, not every sign-in.
func checkRelay(ctx context.Context, s *mail.SMTP, cfg *server.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.Check(ctx); err != nil {
		mode := cfg.SMTP.TLS
		if mode == "" {
			mode = "starttls"
		}
		return fmt.Errorf("%w; check smtp.host, smtp.port and smtp.tls (%s here): starttls needs a relay that offers STARTTLS (usually port 587), tls is TLS from the first byte (usually 465), none is for a relay on loopback (25)", err, mode)
	}
	return nil
}

func attestationPolicy(cfg *server.Config) (*secretd.AttestationPolicy, error) {
	a := cfg.Secretd.Attestation
	if len(a.PCRs) == 0 && !a.AllowDev {
		return nil, &server.SettingError{Setting: "secretd.attestation.pcrs", Problem: "pin the enclave image (PCR0-2), or set allow_dev for a dev secretd"}
	}
	p := &secretd.AttestationPolicy{AllowDev: a.AllowDev, AllowDebug: a.AllowDebug, PCRs: map[int][]byte{}}
	for k, v := range a.PCRs {
		i, err := strconv.Atoi(k)
		b, herr := hex.DecodeString(v)
		if err != nil || i < 0 || i > 31 || herr != nil || len(b) != 48 {
			return nil, &server.SettingError{Setting: "secretd.attestation.pcrs." + k, Problem: "want a PCR index 0-31 and 48 bytes of hex"}
		}
		p.PCRs[i] = b
	}
	if _, err := base64.StdEncoding.DecodeString(cfg.Secretd.Identity); err != nil {
		return nil, &server.SettingError{Setting: "secretd.identity", Problem: "not base64"}
	}
	return p, nil
}
