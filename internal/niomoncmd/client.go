package niomoncmd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/secretd"
)

const clientUsage = `niomon client: the command-line client of a niomon server.

Usage: niomon client [--server URL] [--key FILE] [--json]
                     [--receipt-key B64 | --pcr N=HEX ... | --allow-dev-enclave] COMMAND ...

Sign-in:
  apikey new                    make a P-256 API key file at --key
  signup [--no-wallet]          sign up with the API key, and create the wallet
  login                         sign in with the API key
  email login EMAIL [--code C]  sign in by an email code (asked for on the terminal, or given
                                with --code to a later run);
                                a new account gets a wallet with a device key kept at --key
  session | sessions | logout

Wallet:
  wallet create                 create the wallet (stamped by --key)
  wallet import [--mnemonic-file FILE]   import a BIP39 mnemonic (read from stdin by default);
                                it is encrypted to the enclave here, on this machine
  addresses                     the wallet's addresses per chain
  export                        show the mnemonic here (decrypted on this machine)
  key rotate                    replace the key at --key with a new one in the wallet's policy
                                (a device session key gets a new full lifetime)

Signing (every request is stamped here with --key; the server only relays):
  sign digest HEX [--scheme secp256k1|btc_ecdsa|p256] [--path P]
  sign message TEXT             EIP-191 personal_sign; prints the address that signed
  sign typed-data FILE          EIP-712 (eth_signTypedData_v4 JSON)
  sign eth-tx FILE              an Ethereum transaction (JSON-RPC form); prints the raw signed tx
  sign bip340 HEX [--merkle-root HEX] [--taproot]   BIP340 Schnorr over a 32-byte digest
  sign ed25519 [--hex] MESSAGE  ed25519 (e.g. a Solana transaction message, with --hex)
  sign bls MESSAGE              BLS12-381 (EIP-2333 key)
  (message, ed25519 and bls take --file FILE, or --file - for stdin, instead of the argument)

Defaults: --server $NIOMON_SERVER, or the server the key file was made with, or
          http://localhost:8080 (niomon dev's);
          --key $NIOMON_KEY or ~/.config/niomon/key.json (its session is kept at FILE.session).

The cluster's receipt key checks wallet receipts, import keys and every address shown.
--receipt-key (or $NIOMON_RECEIPT_KEY) gives it. --pcr N=HEX (repeatable; or $NIOMON_PCRS,
e.g. 0=…,1=…,2=…) takes it from the enclave's attestation document instead, which must carry
those measurements (AWS Nitro; --allow-dev-enclave accepts a dev enclave). Otherwise the key
the server names is trusted on first use. Either way it is pinned in FILE.cluster, and a
different one later is refused.
`

// cli is one client invocation.
type cli struct {
	server  string
	keyPath string
	json    bool
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	api     *nioapi.Client
	cfg     *nioapi.Config
	// receiptKey is --receipt-key: the cluster's receipt key, base64.
	receiptKey string
	// pcrs and allowDev (--pcr, --allow-dev-enclave) make the client take
	// the receipt key from the enclave's attestation document.
	pcrs     pcrFlags
	allowDev bool
}

// pcrFlags is --pcr N=HEX, repeatable: a measurement the enclave must
// attest to.
type pcrFlags map[int][]byte

func (p pcrFlags) String() string { return fmt.Sprint(len(p), " PCRs") }

func (p pcrFlags) Set(v string) error {
	for _, one := range strings.Split(v, ",") {
		n, h, ok := strings.Cut(strings.TrimSpace(one), "=")
		i, err := strconv.Atoi(n)
		b, herr := hex.DecodeString(h)
		if !ok || err != nil || i < 0 || i > 31 || herr != nil || len(b) != 48 {
			return fmt.Errorf("want N=HEX: a PCR index 0..31 and its 48-byte value in hex, got %q", one)
		}
		p[i] = b
	}
	return nil
}

func cmdClient(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("client", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, clientUsage) }
	c := &cli{stdin: os.Stdin, stdout: stdout, stderr: stderr}
	fs.StringVar(&c.server, "server", envOr("NIOMON_SERVER", defaultServer), "server URL")
	fs.StringVar(&c.keyPath, "key", envOr("NIOMON_KEY", defaultKeyPath()), "key file")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	fs.StringVar(&c.receiptKey, "receipt-key", os.Getenv("NIOMON_RECEIPT_KEY"), "the cluster's receipt key (base64) to trust")
	c.pcrs = pcrFlags{}
	if v := os.Getenv("NIOMON_PCRS"); v != "" {
		if err := c.pcrs.Set(v); err != nil {
			return fmt.Errorf("NIOMON_PCRS: %w", err)
		}
	}
	fs.Var(c.pcrs, "pcr", "a measurement N=HEX the enclave must attest to (repeatable)")
	fs.BoolVar(&c.allowDev, "allow-dev-enclave", os.Getenv("NIOMON_ALLOW_DEV_ENCLAVE") == "1", "accept a dev enclave's attestation (its root key is public)")
	if err := parseFlags(fs, hoistGlobalFlags(args)); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" {
		fmt.Fprint(stdout, clientUsage)
		return nil
	}
	// Without --server or NIOMON_SERVER, the server is the one the key
	// file was made with.
	explicit := os.Getenv("NIOMON_SERVER") != ""
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "server" })
	if !explicit {
		if server := keyFileServer(c.keyPath); server != "" {
			c.server = server
		}
	}
	c.server = strings.TrimRight(c.server, "/")
	c.api = nioapi.NewClient(c.server, nil)
	cmd, rest := rest[0], rest[1:]
	sub := ""
	if len(rest) > 0 && (cmd == "apikey" || cmd == "email" || cmd == "wallet" || cmd == "sign" || cmd == "key") {
		sub, rest = rest[0], rest[1:]
	}
	switch cmd {
	case "session", "sessions", "logout", "addresses", "export":
		if len(rest) > 0 {
			return usagef("%s takes no arguments (got %q)", cmd, rest[0])
		}
	}
	switch cmd + " " + sub {
	case "apikey new":
		return c.apiKeyNew(rest)
	case "signup ":
		return c.signup(ctx, rest)
	case "login ":
		return c.login(ctx, rest)
	case "email login":
		return c.emailLogin(ctx, rest)
	case "session ":
		return c.session(ctx)
	case "sessions ":
		return c.sessions(ctx)
	case "logout ":
		return c.logout(ctx)
	case "wallet create":
		return c.walletCreate(ctx, rest)
	case "wallet import":
		return c.walletImport(ctx, rest)
	case "addresses ":
		return c.addresses(ctx)
	case "export ":
		return c.export(ctx)
	case "key rotate":
		return c.keyRotate(ctx, rest)
	}
	if cmd == "sign" {
		return c.sign(ctx, sub, rest)
	}
	return usagef("unknown client command %q (run niomon client help)", strings.TrimSpace(cmd+" "+sub))
}

// hoistGlobalFlags moves --server, --key and --json to the front, so they
// may be written anywhere on the line.
func hoistGlobalFlags(args []string) []string {
	var global, rest []string
	for i := 0; i < len(args); i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") || args[i] == "-" {
			rest = append(rest, args[i])
			continue
		}
		switch name {
		case "json", "allow-dev-enclave":
			global = append(global, args[i])
		case "server", "key", "receipt-key", "pcr":
			global = append(global, args[i])
			if !hasValue && i+1 < len(args) {
				i++
				global = append(global, args[i])
			}
		default:
			rest = append(rest, args[i])
		}
	}
	return append(global, rest...)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func defaultKeyPath() string {
	d, err := os.UserConfigDir()
	if err != nil {
		return "niomon-key.json"
	}
	return filepath.Join(d, "niomon", "key.json")
}

// sub parses a subcommand's flags, which may come before or after its
// positional arguments (returned in order).
func (c *cli) sub(name string, args []string, define func(*flag.FlagSet)) ([]string, error) {
	fs := newFlagSet("client "+name, c.stderr)
	if define != nil {
		define(fs)
	}
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// print writes v as JSON with --json, else calls human.
func (c *cli) print(v any, human func(w io.Writer)) error {
	if c.json {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	human(c.stdout)
	return nil
}

// config fetches the server's configuration once, and checks the
// cluster receipt key it names against the pinned one.
func (c *cli) config(ctx context.Context) (*nioapi.Config, error) {
	if c.cfg == nil {
		cfg, err := c.api.Config(ctx)
		if err != nil {
			return nil, err
		}
		if err := c.pinReceiptKey(ctx, cfg); err != nil {
			return nil, err
		}
		c.cfg = cfg
	}
	return c.cfg, nil
}

// clusterFile pins the cluster's receipt key next to a key file.
type clusterFile struct {
	Server     string `json:"server"` // where it was first seen
	ReceiptKey []byte `json:"receipt_key"`
}

func (c *cli) clusterPath() string { return c.keyPath + ".cluster" }

// pinReceiptKey accepts the receipt key the server names only if it is
// the one given with --receipt-key, or the one the enclave's attestation
// binds (with --pcr or --allow-dev-enclave), and the one pinned at
// FILE.cluster. Without a pin it pins the key there, saying whether it
// was attested or is trusted on first use.
func (c *cli) pinReceiptKey(ctx context.Context, cfg *nioapi.Config) error {
	b64 := base64.StdEncoding.EncodeToString
	rk := cfg.ReceiptKey
	if len(rk) != ed25519.PublicKeySize {
		return errors.New("the server names no valid cluster receipt key")
	}
	how := "first use"
	if c.receiptKey != "" && (len(c.pcrs) > 0 || c.allowDev) {
		return errors.New("give --receipt-key, or --pcr (with --allow-dev-enclave for a dev cluster), not both")
	}
	if len(c.pcrs) > 0 || c.allowDev {
		// A Nitro enclave is pinned by its image, kernel and application
		// (PCR0..2). A dev enclave's root key is public, so anyone can
		// make its documents: checking one catches mistakes, not a lying
		// server.
		if !c.allowDev {
			for _, i := range []int{0, 1, 2} {
				if _, ok := c.pcrs[i]; !ok {
					return fmt.Errorf("--pcr: give PCR0, PCR1 and PCR2 of the enclave image (PCR%d is missing)", i)
				}
			}
		} else if len(c.pcrs) == 0 {
			return errors.New("--allow-dev-enclave: give the dev enclave's PCR0 too (niomon dev prints it)")
		}
		nonce := make([]byte, 32)
		if _, err := rand.Read(nonce); err != nil {
			return err
		}
		doc, err := c.api.Attestation(ctx, nonce)
		if err != nil {
			return fmt.Errorf("the enclave's attestation: %w", err)
		}
		got, err := secretd.VerifyAttestation(&secretd.AttestationPolicy{PCRs: c.pcrs, AllowDev: c.allowDev}, doc, nonce, cfg.ClusterIdentity)
		if err != nil {
			return fmt.Errorf("refusing the server's cluster: %w", err)
		}
		if !bytes.Equal(got, rk) {
			return fmt.Errorf("the server names the receipt key %s, but the enclave attests to %s: refusing to trust it", b64(rk), b64(got))
		}
		how = "attested by the enclave"
		if c.allowDev {
			how = "attested by a dev enclave, whose root key is public: no stronger than first use"
		}
	}
	if c.receiptKey != "" {
		want, err := base64.StdEncoding.DecodeString(c.receiptKey)
		if err != nil || len(want) != ed25519.PublicKeySize {
			return errors.New("--receipt-key: want the cluster's receipt key, 32 bytes in base64")
		}
		if !bytes.Equal(want, rk) {
			return fmt.Errorf("the server names the cluster receipt key %s, not the one given with --receipt-key: refusing to trust its receipts and addresses", b64(rk))
		}
		how = "given with --receipt-key"
	}
	path := c.clusterPath()
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var cf clusterFile
		if json.Unmarshal(b, &cf) != nil || len(cf.ReceiptKey) != ed25519.PublicKeySize {
			return fmt.Errorf("%s is unreadable; remove it to trust the server's cluster again", path)
		}
		if !bytes.Equal(cf.ReceiptKey, rk) {
			return fmt.Errorf("the server names the cluster receipt key %s, but %s pins %s (first seen at %s). "+
				"If the operator moved your wallet to a new cluster, check the new key with them, then remove %s", b64(rk), path, b64(cf.ReceiptKey), cf.Server, path)
		}
		return nil
	case errors.Is(err, os.ErrNotExist):
		out, err := json.MarshalIndent(clusterFile{Server: c.server, ReceiptKey: rk}, "", "  ")
		if err != nil {
			return err
		}
		if err := writeNew(path, append(out, '\n')); errors.Is(err, os.ErrExist) {
			return c.pinReceiptKeyAgain(ctx, cfg) // another client pinned first: compare with its pin
		} else if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "Trusting the cluster receipt key %s (%s; pinned in %s).\n", b64(rk), how, path)
		return nil
	default:
		return err
	}
}

// flowFile keeps an email sign-in that waits for its code next to the key
// file, so that "email login EMAIL --code C" finishes the sign-in an
// earlier "email login EMAIL" started. The flow id is not a secret
// without the code, which only the mail has.
type flowFile struct {
	Server    string    `json:"server"`
	Email     string    `json:"email"`
	FlowID    string    `json:"flow_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (c *cli) flowPath() string { return c.keyPath + ".flow" }

func (c *cli) saveFlow(ff flowFile) error { return writePrivateJSON(c.flowPath(), ff) }

// writePrivateJSON writes v as JSON to path (mode 0600, its directory
// 0700), whole or not at all.
func writePrivateJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// pendingFlow is the saved flow for email at this server, if it has not
// expired.
func (c *cli) pendingFlow(email string) (flowFile, bool) {
	b, err := os.ReadFile(c.flowPath())
	if err != nil {
		return flowFile{}, false
	}
	var ff flowFile
	if json.Unmarshal(b, &ff) != nil || ff.Server != c.server || !strings.EqualFold(ff.Email, email) || !time.Now().Before(ff.ExpiresAt) {
		return flowFile{}, false
	}
	return ff, true
}

// sessionFile keeps a bearer session next to the key file.
type sessionFile struct {
	Server    string    `json:"server"`
	Token     string    `json:"token"`
	UserID    string    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (c *cli) sessionPath() string { return c.keyPath + ".session" }

func (c *cli) saveSession(s *nioapi.Session) error {
	return writePrivateJSON(c.sessionPath(), sessionFile{Server: c.server, Token: s.Token, UserID: s.User.ID, ExpiresAt: s.ExpiresAt})
}

// signedIn makes the client use the saved session, or signs in again with
// an API key. It returns the user id.
func (c *cli) signedIn(ctx context.Context) (string, error) {
	b, err := os.ReadFile(c.sessionPath())
	if err == nil {
		var sf sessionFile
		if json.Unmarshal(b, &sf) == nil && sf.Server == c.server && time.Now().Before(sf.ExpiresAt) {
			c.api.SetToken(sf.Token)
			_, err := c.api.Me(ctx)
			var ae *nioapi.Error
			switch {
			case err == nil:
				return sf.UserID, nil
			case !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized:
				// An outage or a server error says nothing about the
				// session: keep it, and say what happened.
				return "", fmt.Errorf("the server could not check your session (%w); it is kept: try again when %s answers", err, c.server)
			}
		}
	}
	key, kf, err := loadKey(c.keyPath)
	if err != nil {
		return "", fmt.Errorf("not signed in, and no key at %s: run niomon client email login EMAIL, or apikey new and signup", c.keyPath)
	}
	if kf.Kind != policy.KindAPIKey {
		return "", errors.New("the session has ended: sign in again with niomon client email login EMAIL")
	}
	c.api.SetToken("")
	s, err := c.api.APIKeyLogin(ctx, key)
	if err != nil {
		return "", err
	}
	return s.User.ID, c.saveSession(s)
}

func (c *cli) apiKeyNew(args []string) error {
	if _, err := c.sub("apikey new", args, nil); err != nil {
		return err
	}
	k, err := makeKey(c.keyPath, c.server, policy.KindAPIKey, time.Time{})
	if err != nil {
		return err
	}
	cred := k.Credential()
	out := map[string]string{"key_file": c.keyPath, "key_id": fmt.Sprintf("%x", cred.ID)}
	return c.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "API key written to %s (key id %x). Keep it secret: it can sign with your wallet.\n", c.keyPath, cred.ID)
	})
}

func (c *cli) signup(ctx context.Context, args []string) error {
	var noWallet bool
	if _, err := c.sub("signup", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&noWallet, "no-wallet", false, "make the account only (then: wallet create, or wallet import)")
	}); err != nil {
		return err
	}
	key, kf, err := loadKey(c.keyPath)
	if err != nil {
		return fmt.Errorf("%w (make one with niomon client apikey new)", err)
	}
	if kf.Kind != policy.KindAPIKey {
		return errors.New("signup takes an API key file (niomon client apikey new)")
	}
	s, err := c.api.APIKeySignup(ctx, key)
	if err != nil {
		return err
	}
	if err := c.saveSession(s); err != nil {
		return err
	}
	c.sayIfNew(s)
	if noWallet {
		return c.printUser(s)
	}
	return c.createWallet(ctx, s.User.ID, key)
}

func (c *cli) login(ctx context.Context, args []string) error {
	if _, err := c.sub("login", args, nil); err != nil {
		return err
	}
	key, _, err := loadKey(c.keyPath)
	if err != nil {
		return err
	}
	s, err := c.api.APIKeyLogin(ctx, key)
	if err != nil {
		return err
	}
	if err := c.saveSession(s); err != nil {
		return err
	}
	return c.printUser(s)
}

// sayIfNew tells the user (on stderr, apart from --json output) that the
// sign-in made their account.
func (c *cli) sayIfNew(s *nioapi.Session) {
	if s.NewUser {
		fmt.Fprintf(c.stderr, "Account created (user %s).\n", s.User.ID)
	}
}

func (c *cli) printUser(s *nioapi.Session) error {
	return c.print(s.User, func(w io.Writer) {
		fmt.Fprintf(w, "signed in as %s (%s)\n", s.User.ID, s.User.State)
	})
}

// emailLogin signs in by email code. A new account gets its wallet at
// once, with a device session key made here as its first credential.
func (c *cli) emailLogin(ctx context.Context, args []string) error {
	var code string
	rest, err := c.sub("email login", args, func(fs *flag.FlagSet) {
		fs.StringVar(&code, "code", "", "the code from the mail (asked for on the terminal when empty)")
	})
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("email login takes one email address")
	}
	email := rest[0]
	var flowID string
	if code != "" {
		// The code of a mail an earlier run asked for: its flow.
		ff, ok := c.pendingFlow(email)
		if !ok {
			return usagef("--code: no sign-in mail to %s is pending here; run niomon client email login %s first (it sends the mail), then this with the code from it", email, email)
		}
		flowID = ff.FlowID
	} else {
		st, err := c.api.EmailStart(ctx, email)
		if err != nil {
			return err
		}
		flowID = st.FlowID
		if err := c.saveFlow(flowFile{Server: c.server, Email: email, FlowID: st.FlowID, ExpiresAt: time.Now().Add(time.Duration(st.ExpiresIn) * time.Second)}); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "A sign-in code was sent to %s. Code: ", email)
		line, err := bufio.NewReader(c.stdin).ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintln(c.stderr)
			return fmt.Errorf("no code given; when the mail comes, run niomon client email login %s --code CODE", email)
		}
		code = strings.TrimSpace(line)
	}
	s, err := c.api.EmailVerify(ctx, flowID, code, true)
	if err != nil {
		return err
	}
	os.Remove(c.flowPath())
	c.sayIfNew(s)
	if err := c.saveSession(s); err != nil {
		return err
	}
	if s.User.WalletReady {
		if _, _, err := loadKey(c.keyPath); err != nil {
			fmt.Fprintf(c.stderr, "Signed in. This machine has no key of your wallet at %s, so it can read addresses but not sign.\n", c.keyPath)
		}
		return c.addresses(ctx)
	}
	key, _, err := loadKey(c.keyPath)
	if errors.Is(err, os.ErrNotExist) {
		cfg, err := c.config(ctx)
		if err != nil {
			return err
		}
		expires, err := sessionKeyExpiry(cfg.SessionKeyTTL)
		if err != nil {
			return err
		}
		if key, err = makeKey(c.keyPath, c.server, policy.KindSessionKey, expires); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	return c.createWallet(ctx, s.User.ID, key)
}

// createWallet makes the user's wallet with key as its credential, checks
// the receipt lists exactly that credential, and prints the addresses.
func (c *cli) createWallet(ctx context.Context, userID string, key *secretd.P256Key) error {
	cfg, err := c.config(ctx)
	if err != nil {
		return err
	}
	req, err := nioapi.NewRequest(cfg, policy.MethodCreate, userID, policy.CreateParams{Words: 24, Credentials: []policy.Credential{key.Credential()}})
	if err != nil {
		return err
	}
	return c.postNewWallet(ctx, "/v1/wallet", userID, req, key)
}

func (c *cli) postNewWallet(ctx context.Context, path, oid string, req []byte, key *secretd.P256Key) error {
	cfg, err := c.config(ctx)
	if err != nil {
		return err
	}
	st, err := nioapi.StampWith(key, req)
	if err != nil {
		return err
	}
	var out nioapi.WalletCreated
	if err := c.api.Post(ctx, path, st, &out); err != nil {
		return err
	}
	rc, err := checkReceipt(cfg, out.Receipt)
	if err != nil {
		return err
	}
	if rc.OID != oid || out.Wallet.OID != oid {
		return fmt.Errorf("WARNING: asked for wallet %s, but the receipt names %s and the server shows %s", oid, rc.OID, out.Wallet.OID)
	}
	if extra := rc.Unexpected([]policy.Credential{key.Credential()}); len(extra) > 0 {
		return fmt.Errorf("WARNING: the wallet's policy holds %d credential(s) you did not enrol", len(extra))
	}
	// The key now belongs to this wallet instance, and the client will
	// show and stamp for no other.
	if err := bindWallet(c.keyPath, rc); err != nil {
		return err
	}
	return c.printWallet(ctx, &out.Wallet)
}

// printWallet prints the wallet's addresses after two checks, because
// the server relays and caches them and must not be able to show other
// addresses as the user's: the wallet is one whose policy holds this
// machine's key (the enclave's signed receipt says so), and each address
// is the one the cluster signed for that wallet.
func (c *cli) printWallet(ctx context.Context, w *nioapi.Wallet) error {
	if w.Ready {
		cfg, err := c.config(ctx)
		if err != nil {
			return err
		}
		pinned, err := c.confirmWallet(ctx, cfg, w.OID)
		if err != nil {
			return err
		}
		for _, a := range w.Addresses {
			inst, err := nioapi.VerifyAddress(cfg.ReceiptKey, w.OID, a)
			if err != nil {
				return fmt.Errorf("WARNING: the server's %s address %s is not the one the cluster signed for your wallet; do not use it: %w", a.Chain, a.Address, err)
			}
			if pinned == nil {
				pinned = inst // no key here: the addresses must at least agree
			}
			if !bytes.Equal(inst, pinned) {
				return fmt.Errorf("WARNING: the server's %s address %s is the cluster's address of another wallet at %s, not yours; do not use it", a.Chain, a.Address, w.OID)
			}
		}
	}
	return c.print(w, func(o io.Writer) {
		if !w.Ready {
			fmt.Fprintln(o, "no wallet yet: run niomon client wallet create")
			return
		}
		tw := tabwriter.NewWriter(o, 0, 4, 2, ' ', 0)
		for _, a := range w.Addresses {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Chain, a.Address, a.Path)
		}
		tw.Flush()
	})
}

// checkReceipt verifies a receipt with the cluster's receipt key.
func checkReceipt(cfg *nioapi.Config, r nioapi.Receipt) (*secretd.Receipt, error) {
	rc, err := secretd.VerifyReceipt(cfg.ReceiptKey, &policy.SignedReceipt{Receipt: r.Receipt, Signature: r.Signature})
	if err != nil {
		return nil, fmt.Errorf("the wallet's policy receipt does not verify with the cluster's receipt key: %w", err)
	}
	return rc, nil
}

// walletPolicy fetches the signed-in user's wallet policy receipt and
// verifies it.
func (c *cli) walletPolicy(ctx context.Context, cfg *nioapi.Config) (*secretd.Receipt, error) {
	var r nioapi.Receipt
	if err := c.api.Do(ctx, "GET", "/v1/wallet/policy", nil, &r); err != nil {
		return nil, err
	}
	return checkReceipt(cfg, r)
}

// confirmWallet checks that wallet oid is this machine's: the enclave's
// receipt of its current policy names oid, the instance the key file
// pinned, no older version than seen, and lists the key at --key. It
// returns the pinned instance. Without a key here it can only say so.
func (c *cli) confirmWallet(ctx context.Context, cfg *nioapi.Config, oid string) ([]byte, error) {
	key, kf, err := loadKey(c.keyPath)
	if err != nil {
		fmt.Fprintf(c.stderr, "Note: no key of your wallet at %s, so this machine cannot confirm that wallet %s is yours.\n", c.keyPath, oid)
		return nil, nil
	}
	// A key is bound to the wallet it was enrolled in. secretd lists a
	// key in a policy only with that key's own proof, so the receipt
	// check below would catch another wallet too; the binding also holds
	// against a cluster from before that rule.
	if kf.Wallet != "" && kf.Wallet != oid {
		return nil, fmt.Errorf("WARNING: the server shows wallet %s, but the key at %s belongs to wallet %s: it is not your wallet; do not use its addresses", oid, c.keyPath, kf.Wallet)
	}
	rc, err := c.walletPolicy(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if rc.OID != oid || !rc.Holds(key.Credential()) {
		return nil, fmt.Errorf("WARNING: the server shows wallet %s, but the cluster's receipt for %s does not list this machine's key (%s): it is not your wallet; do not use its addresses", oid, rc.OID, c.keyPath)
	}
	// The instance and the version: pinned on first use for an older key
	// file, checked (and the version raised) after.
	if err := bindWallet(c.keyPath, rc); err != nil {
		return nil, err
	}
	return rc.Instance, nil
}

// pinReceiptKeyAgain compares with a pin another client wrote meanwhile.
func (c *cli) pinReceiptKeyAgain(ctx context.Context, cfg *nioapi.Config) error {
	if _, err := os.Stat(c.clusterPath()); err != nil {
		return err
	}
	return c.pinReceiptKey(ctx, cfg)
}

// writeNew writes b to a new file at path (mode 0600), whole or not at
// all: it is written beside it and linked into place, which fails with
// os.ErrExist if path exists.
func writeNew(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	err = os.Link(tmp, path)
	if err == nil || errors.Is(err, os.ErrExist) {
		return err
	}
	// No hard links here (some file systems): create it exclusively.
	g, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = g.Write(b)
	if err == nil {
		err = g.Sync()
	}
	if cerr := g.Close(); err == nil {
		err = cerr
	}
	return err
}

// keyRotate replaces this machine's key in the wallet's policy: a policy
// change stamped by the current key adds a new key of the same kind and
// rights (a session key with a new full lifetime) and removes the current
// one. The new key is written beside the old (FILE.new) first and moved
// into place only after the enclave's receipt shows the change.
func (c *cli) keyRotate(ctx context.Context, args []string) error {
	if _, err := c.sub("key rotate", args, nil); err != nil {
		return err
	}
	old, kf, err := loadKey(c.keyPath)
	if err != nil {
		return err
	}
	uid, err := c.signedIn(ctx)
	if err != nil {
		return err
	}
	cfg, err := c.config(ctx)
	if err != nil {
		return err
	}
	cur, err := c.walletPolicy(ctx, cfg)
	if err != nil {
		return err
	}
	if (kf.Wallet != "" && kf.Wallet != uid) || cur.OID != uid || !cur.Holds(old.Credential()) {
		return fmt.Errorf("the key at %s is not enrolled in wallet %s: it cannot be rotated from here", c.keyPath, uid)
	}
	var expires time.Time
	if kf.Kind == policy.KindSessionKey {
		if expires, err = sessionKeyExpiry(cfg.SessionKeyTTL); err != nil {
			return err
		}
	}
	newPath := c.keyPath + ".new"
	if err := bindWallet(c.keyPath, cur); err != nil {
		return err
	}
	fresh, err := makeWalletKey(newPath, c.server, pinOf(cur), kf.Kind, expires)
	if err != nil {
		return fmt.Errorf("%w (a rotation that was cut short leaves %s: if the wallet lists that key, move it to %s)", err, newPath, c.keyPath)
	}
	done := false
	defer func() {
		if !done {
			os.Remove(newPath)
		}
	}()
	// An API key also signs in to the server: the new one is registered
	// for that first (with proof of possession), the old one revoked last.
	isAPIKey := kf.Kind == policy.KindAPIKey
	if isAPIKey {
		if _, err := c.api.AddAPIKey(ctx, fresh); err != nil {
			return fmt.Errorf("registering the new key for sign-in: %w", err)
		}
		defer func() {
			if !done {
				c.revokeSignIn(ctx, fresh)
			}
		}()
	}
	req, err := nioapi.NewRequest(cfg, policy.MethodUpdatePolicy, uid, policy.UpdatePolicyParams{Version: cur.Version,
		Change: policy.Change{Add: []policy.Credential{fresh.Credential()}, Remove: [][]byte{old.Credential().ID}}})
	if err != nil {
		return err
	}
	st, err := nioapi.StampWith(old, req)
	if err != nil {
		return err
	}
	if err := nioapi.ProveWith(st, fresh); err != nil { // the new key agrees to be listed
		return err
	}
	// From the moment the request leaves, the enclave may apply it: keep
	// FILE.new unless the wallet is known to list the old key still.
	done = true
	var out nioapi.Receipt
	if err := c.api.Post(ctx, "/v1/wallet/policy", st, &out); err != nil {
		return c.afterFailedRotation(ctx, cfg, kf.Kind, old, fresh, newPath, err)
	}
	next, err := checkReceipt(cfg, out)
	if err != nil {
		return fmt.Errorf("the new policy receipt does not verify (the new key is at %s): %w", newPath, err)
	}
	var want []policy.Credential
	for _, cr := range cur.Credentials {
		if !bytes.Equal(cr.ID, old.Credential().ID) {
			want = append(want, cr)
		}
	}
	want = append(want, fresh.Credential())
	if next.OID != uid || !next.Holds(fresh.Credential()) || next.Holds(old.Credential()) || len(next.Unexpected(want)) > 0 {
		return fmt.Errorf("WARNING: the wallet's new policy is not the one asked for; the new key is at %s", newPath)
	}
	if err := bindWallet(newPath, next); err != nil {
		return err
	}
	return c.finishRotation(ctx, kf.Kind, old, fresh, newPath)
}

// revokeSignIn withdraws an API key's sign-in at the server (its place
// in the wallet policy is separate). A failure is reported, not fatal.
func (c *cli) revokeSignIn(ctx context.Context, k *secretd.P256Key) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := c.api.Do(rctx, "POST", "/v1/devices/revoke", nioapi.RevokeDevice{Kind: policy.KindAPIKey, ID: k.Credential().ID}, &nioapi.Revoked{}); err != nil {
		fmt.Fprintf(c.stderr, "Note: API key %x can still sign in to the server (not use the wallet): revoking that failed: %v\n", k.Credential().ID, err)
	}
}

// afterFailedRotation finds out, after a rotation request failed, which
// key the wallet lists now: the request may have been applied before the
// answer was lost. It finishes the rotation, or removes the unused new key,
// or, when it cannot tell, keeps both files and says so.
func (c *cli) afterFailedRotation(ctx context.Context, cfg *nioapi.Config, kind string, old, fresh *secretd.P256Key, newPath string, sendErr error) error {
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if rc, err := c.walletPolicy(qctx, cfg); err == nil {
		switch {
		case rc.Holds(fresh.Credential()) && !rc.Holds(old.Credential()):
			return c.finishRotation(ctx, kind, old, fresh, newPath)
		case rc.Holds(old.Credential()) && !rc.Holds(fresh.Credential()):
			os.Remove(newPath)
			if kind == policy.KindAPIKey {
				c.revokeSignIn(ctx, fresh)
			}
			return fmt.Errorf("the rotation failed and the wallet still lists the key at %s: %w", c.keyPath, sendErr)
		}
	}
	return fmt.Errorf("the rotation request failed (%w), and whether the wallet now lists the new key is unknown: "+
		"both keys are kept, the old at %s and the new at %s; run key rotate again once the server answers, or use the one that signs", sendErr, c.keyPath, newPath)
}

// finishRotation moves the new key over the old one and, for an API key,
// withdraws the old key's sign-in.
func (c *cli) finishRotation(ctx context.Context, kind string, old, fresh *secretd.P256Key, newPath string) error {
	if err := os.Rename(newPath, c.keyPath); err != nil {
		return fmt.Errorf("the wallet now lists the key at %s, but moving it to %s failed: %w", newPath, c.keyPath, err)
	}
	if err := syncDir(filepath.Dir(c.keyPath)); err != nil {
		return err
	}
	if kind == policy.KindAPIKey {
		c.revokeSignIn(ctx, old)
	}
	id := fmt.Sprintf("%x", fresh.Credential().ID)
	return c.print(map[string]any{"key_file": c.keyPath, "key_id": id, "expires_at": fresh.Credential().ExpiresAt}, func(w io.Writer) {
		fmt.Fprintf(w, "Rotated: the wallet now lists key %s (kept at %s) instead of the old one.\n", id, c.keyPath)
	})
}

func (c *cli) walletCreate(ctx context.Context, args []string) error {
	if _, err := c.sub("wallet create", args, nil); err != nil {
		return err
	}
	uid, err := c.signedIn(ctx)
	if err != nil {
		return err
	}
	key, _, err := loadKey(c.keyPath)
	if err != nil {
		return err
	}
	return c.createWallet(ctx, uid, key)
}

func (c *cli) walletImport(ctx context.Context, args []string) error {
	var file string
	if _, err := c.sub("wallet import", args, func(fs *flag.FlagSet) {
		fs.StringVar(&file, "mnemonic-file", "", "file holding the mnemonic (default: read from stdin)")
	}); err != nil {
		return err
	}
	var src io.Reader = c.stdin
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		src = f
	} else {
		fmt.Fprint(c.stderr, "Mnemonic (one line): ")
	}
	line, err := bufio.NewReader(io.LimitReader(src, 4096)).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("no mnemonic given")
	}
	mnemonic := strings.Join(strings.Fields(line), " ")
	uid, err := c.signedIn(ctx)
	if err != nil {
		return err
	}
	key, _, err := loadKey(c.keyPath)
	if err != nil {
		return err
	}
	cfg, err := c.config(ctx)
	if err != nil {
		return err
	}
	var ik nioapi.ImportKey
	if err := c.api.Do(ctx, "GET", "/v1/wallet/import-key", nil, &ik); err != nil {
		return err
	}
	p := policy.ImportParams{Credentials: []policy.Credential{key.Credential()}}
	if err := secretd.SealImport(cfg.ReceiptKey, &secretd.ImportKey{KeyID: ik.KeyID, PublicKey: ik.PublicKey, Signature: ik.Signature}, uid, mnemonic, &p); err != nil {
		return err
	}
	req, err := nioapi.NewRequest(cfg, policy.MethodImport, uid, p)
	if err != nil {
		return err
	}
	return c.postNewWallet(ctx, "/v1/wallet/import", uid, req, key)
}

func (c *cli) addresses(ctx context.Context) error {
	if _, err := c.signedIn(ctx); err != nil {
		return err
	}
	w, err := c.api.Wallet(ctx)
	if err != nil {
		return err
	}
	return c.printWallet(ctx, w)
}

func (c *cli) session(ctx context.Context) error {
	if _, err := c.signedIn(ctx); err != nil {
		return err
	}
	s, err := c.api.Me(ctx)
	if err != nil {
		return err
	}
	return c.print(s, func(w io.Writer) {
		fmt.Fprintf(w, "user %s (%s), session expires %s\n", s.User.ID, s.User.State, s.ExpiresAt.Format(time.RFC3339))
	})
}

func (c *cli) sessions(ctx context.Context) error {
	if _, err := c.signedIn(ctx); err != nil {
		return err
	}
	var ss []nioapi.SessionInfo
	if err := c.api.Do(ctx, "GET", "/v1/sessions", nil, &ss); err != nil {
		return err
	}
	return c.print(ss, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, s := range ss {
			cur := ""
			if s.Current {
				cur = "(this one)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID[:16], s.Kind, s.LastSeen.Format(time.RFC3339), s.IP, cur)
		}
		tw.Flush()
	})
}

func (c *cli) logout(ctx context.Context) error {
	if _, err := c.signedIn(ctx); err != nil {
		return err
	}
	var out nioapi.Revoked
	if err := c.api.Do(ctx, "POST", "/v1/session/logout", struct{}{}, &out); err != nil {
		return err
	}
	_ = os.Remove(c.sessionPath())
	return c.print(out, func(w io.Writer) { fmt.Fprintln(w, "signed out") })
}

// stamped builds a request for the signed-in user's wallet, stamps it
// with the key file, and posts it.
func (c *cli) stamped(ctx context.Context, path, method string, params any, out any) ([]byte, error) {
	uid, err := c.signedIn(ctx)
	if err != nil {
		return nil, err
	}
	key, _, err := loadKey(c.keyPath)
	if err != nil {
		return nil, err
	}
	cfg, err := c.config(ctx)
	if err != nil {
		return nil, err
	}
	req, err := nioapi.NewRequest(cfg, method, uid, params)
	if err != nil {
		return nil, err
	}
	st, err := nioapi.StampWith(key, req)
	if err != nil {
		return nil, err
	}
	return req, c.api.Post(ctx, path, st, out)
}

func (c *cli) export(ctx context.Context) error {
	uid, err := c.signedIn(ctx)
	if err != nil {
		return err
	}
	k, err := secretd.NewExportKey()
	if err != nil {
		return err
	}
	var out nioapi.ExportResult
	req, err := c.stamped(ctx, "/v1/wallet/export", policy.MethodExport, policy.ExportParams{Recipient: k.Public()}, &out)
	if err != nil {
		return err
	}
	_, kf, err := loadKey(c.keyPath)
	if err != nil {
		return err
	}
	if kf.Instance != nil && !bytes.Equal(kf.Instance, out.Instance) {
		return fmt.Errorf("WARNING: the export is of another wallet at %s than the one your key was enrolled in; it was not opened", uid)
	}
	m, err := k.Open(uid, out.Instance, req, out.Enc, out.Ciphertext)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stderr, "Your recovery phrase follows. Anyone who sees it can take your funds: do not share it, photograph it or paste it anywhere.")
	return c.print(map[string]string{"mnemonic": m}, func(w io.Writer) { fmt.Fprintln(w, m) })
}
