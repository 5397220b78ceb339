package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Config is the niomon server's configuration: a JSON file (niomon serve
// --config FILE) with every setting also settable from the environment as
// NIOMON_<PATH>, e.g. NIOMON_PUBLIC_URL or NIOMON_SMTP_HOST (the
// environment wins). Validate names the first wrong or missing setting.
type Config struct {
	// PublicURL is where users reach the server, e.g. https://wallet.example.
	PublicURL string `json:"public_url"`
	// Listen is the HTTP address, e.g. 127.0.0.1:8080.
	Listen string `json:"listen"`
	// RPID is the WebAuthn relying party id: the registrable domain passkeys
	// are bound to (defaults to PublicURL's host).
	RPID string `json:"rp_id"`
	// TLS serves HTTPS with these files; empty means plain HTTP behind a
	// terminating proxy (or loopback in dev).
	TLS struct {
		CertFile string `json:"cert_file"`
		KeyFile  string `json:"key_file"`
	} `json:"tls"`
	Database struct {
		// Postgres is a DSN; when empty, SQLite at SQLite is used.
		Postgres string `json:"postgres"`
		SQLite   string `json:"sqlite"`
	} `json:"database"`
	SMTP struct {
		Host     string `json:"host"`
		Port     int    `json:"port"`
		Username string `json:"username"`
		// PasswordFile holds the SMTP password (not the config file).
		PasswordFile string `json:"password_file"`
		From         string `json:"from"`
		TLS          string `json:"tls"` // starttls (default), tls, none (loopback only)
	} `json:"smtp"`
	Secretd struct {
		// Addrs are the secretd runners of one cluster.
		Addrs []string `json:"addrs"`
		// Identity is the cluster identity (base64).
		Identity string `json:"identity"`
		// KeyFile is this server's static_key client key.
		KeyFile string `json:"key_file"`
		// Attestation is what the enclave must attest to before use.
		Attestation struct {
			AllowDev   bool              `json:"allow_dev"`
			AllowDebug bool              `json:"allow_debug"`
			PCRs       map[string]string `json:"pcrs"` // index → hex
		} `json:"attestation"`
	} `json:"secretd"`
	// TokenKeyFile holds the 32-byte key (base64) under which one-time
	// codes, link tokens and session tokens are stored as HMACs.
	TokenKeyFile string `json:"token_key_file"`
	// OIDC are the upstream identity providers for social login.
	OIDC []OIDCProvider `json:"oidc"`
	// TrustedProxies are the proxies (CIDR prefixes or addresses) whose
	// X-Forwarded-For the server believes, to find the client's address
	// for per-IP limits, sessions and the audit log. Empty: the TCP peer
	// is the client.
	TrustedProxies []string `json:"trusted_proxies"`
	// RateLimits changes the maximum of named rate limits (see
	// docs/niomon-operations.md), e.g. {"challenges_per_ip": 100}.
	RateLimits map[string]int `json:"rate_limits"`
	// Users configures sign-up housekeeping.
	Users struct {
		// PendingTTL is how long a user may stay without a wallet before
		// the account is removed (default 24h).
		PendingTTL Duration `json:"pending_ttl"`
		// SessionKeyTTL is the longest a device session key registered in
		// a wallet may live (default 90 days).
		SessionKeyTTL Duration `json:"session_key_ttl"`
	} `json:"users"`
	// Phishing configures the phishing checker: the lists it loads and
	// re-reads every Sync (default 1h), and what blocked users are told.
	Phishing struct {
		Lists  []PhishingList `json:"lists"`
		Sync   Duration       `json:"sync"`
		Appeal string         `json:"appeal"`
	} `json:"phishing"`
	// Admins are the email addresses of the administrators who vet
	// registered apps (an account with one of them, verified).
	Admins   []string `json:"admins"`
	Sessions struct {
		IdleTimeout Duration `json:"idle_timeout"` // default 7 days
		MaxAge      Duration `json:"max_age"`      // default 30 days
		RotateAfter Duration `json:"rotate_after"` // default 1 day
	} `json:"sessions"`
}

// PhishingList is a phishing list the server loads: a file, or an https
// URL (fetched with the server's HTTP client), in MetaMask's
// eth-phishing-detect format, Polkadot's all.json, or one domain a line
// (told apart by content).
type PhishingList struct {
	Name string `json:"name"`
	File string `json:"file,omitempty"`
	URL  string `json:"url,omitempty"`
}

// OIDCProvider is an upstream OpenID Connect provider.
type OIDCProvider struct {
	// Name is the provider's id in URLs (/v1/auth/oidc/{name}/start).
	Name string `json:"name"`
	// Preset fills Issuer and Scopes for "google" or "apple".
	Preset   string `json:"preset"`
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
	// ClientSecretFile holds the client secret.
	ClientSecretFile string `json:"client_secret_file"`
	// SignedClientSecret, instead of ClientSecretFile, has the server sign
	// a fresh client secret (a JWT) for every code exchange, as Sign in
	// with Apple requires.
	SignedClientSecret *SignedClientSecret `json:"signed_client_secret,omitempty"`
	Scopes             []string            `json:"scopes"`
}

// SignedClientSecret is how to sign a provider's client secret: Apple's
// team id, the key id of a "Sign in with Apple" key, and that key's .p8
// file (PKCS#8 PEM, P-256).
type SignedClientSecret struct {
	TeamID         string `json:"team_id"`
	KeyID          string `json:"key_id"`
	PrivateKeyFile string `json:"private_key_file"`
}

// Duration is a time.Duration written as "15m" in JSON.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`want a duration string such as "15m"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// SettingError names a wrong or missing setting.
type SettingError struct {
	Setting string // e.g. "smtp.host" (env NIOMON_SMTP_HOST)
	Problem string
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("setting %s (env %s): %s", e.Setting, envName(e.Setting), e.Problem)
}

func envName(setting string) string {
	return "NIOMON_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(setting))
}

// LoadConfig reads a JSON config file (strictly: unknown settings are
// errors) and applies NIOMON_* environment variables over it.
func LoadConfig(path string, environ []string) (*Config, error) {
	c := &Config{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			if se := badDuration(b); se != nil {
				return nil, fmt.Errorf("config %s: %w", path, se)
			}
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(c, environ); err != nil {
		return nil, err
	}
	return c, nil
}

// durationProblem is what a wrong duration setting is told.
const durationProblem = `want a duration such as "90s", "15m" or "24h" (units: s, m, h; "1d" is "24h")`

// badDuration finds the setting whose duration a config file writes
// wrongly (encoding/json does not say which field an UnmarshalJSON error
// came from); nil if none.
func badDuration(file []byte) *SettingError {
	var raw map[string]any
	if json.Unmarshal(file, &raw) != nil {
		return nil
	}
	var walk func(t reflect.Type, v map[string]any, prefix string) *SettingError
	walk = func(t reflect.Type, v map[string]any, prefix string) *SettingError {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			x, ok := v[tag]
			if tag == "" || tag == "-" || !ok {
				continue
			}
			name := strings.TrimPrefix(prefix+"."+tag, ".")
			switch sub, isMap := x.(map[string]any); {
			case f.Type == reflect.TypeFor[Duration]():
				str, isString := x.(string)
				if _, err := time.ParseDuration(str); !isString || err != nil {
					return &SettingError{name, durationProblem}
				}
			case f.Type.Kind() == reflect.Struct && isMap:
				if se := walk(f.Type, sub, name); se != nil {
					return se
				}
			}
		}
		return nil
	}
	return walk(reflect.TypeFor[Config](), raw, "")
}

// applyEnv sets every scalar or string-list field whose NIOMON_ variable
// is present. Lists are comma-separated.
func applyEnv(c *Config, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "NIOMON_") {
			env[k] = v
		}
	}
	var walk func(v reflect.Value, prefix string) error
	walk = func(v reflect.Value, prefix string) error {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			name := tag
			if prefix != "" {
				name = prefix + "." + tag
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Duration]() {
				if err := walk(fv, name); err != nil {
					return err
				}
				continue
			}
			raw, ok := env[envName(name)]
			if !ok {
				continue
			}
			switch {
			case f.Type == reflect.TypeFor[Duration]():
				d, err := time.ParseDuration(raw)
				if err != nil {
					return &SettingError{name, durationProblem}
				}
				fv.Set(reflect.ValueOf(Duration{d}))
			case fv.Kind() == reflect.String:
				fv.SetString(raw)
			case fv.Kind() == reflect.Int:
				n, err := strconv.Atoi(raw)
				if err != nil {
					return &SettingError{name, "not a number"}
				}
				fv.SetInt(int64(n))
			case fv.Kind() == reflect.Bool:
				b, err := strconv.ParseBool(raw)
				if err != nil {
					return &SettingError{name, "not true or false"}
				}
				fv.SetBool(b)
			case fv.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
				var parts []string
				for _, p := range strings.Split(raw, ",") {
					if p = strings.TrimSpace(p); p != "" {
						parts = append(parts, p)
					}
				}
				fv.Set(reflect.ValueOf(parts))
			default:
				return &SettingError{name, "cannot be set from the environment; use the config file"}
			}
		}
		return nil
	}
	return walk(reflect.ValueOf(c).Elem(), "")
}

// Validate checks a production configuration and fills defaults.
func (c *Config) Validate() error {
	if c.PublicURL == "" {
		return &SettingError{"public_url", "required: the https:// URL users reach this server at, e.g. https://wallet.example.com (the configuration's first setting; docs/niomon-operations.md lists the others)"}
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
		return &SettingError{"public_url", "want an https:// URL (http:// only for a loopback host)"}
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return &SettingError{"public_url", "want scheme://host[:port] only: the server serves at its root, so a path, query or user is not possible (write " + u.Scheme + "://" + u.Host + ")"}
	}
	c.PublicURL = u.Scheme + "://" + u.Host // without the trailing slash, as the server builds URLs
	if c.Listen == "" {
		return &SettingError{"listen", "required, e.g. 0.0.0.0:8443"}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return &SettingError{"listen", "want host:port"}
	}
	names := map[string]bool{}
	for i, l := range c.Phishing.Lists {
		setting := fmt.Sprintf("phishing.lists[%d]", i)
		switch {
		case l.Name == "" || names[l.Name]:
			return &SettingError{setting + ".name", "each list needs a name of its own (verdicts name it)"}
		case (l.File == "") == (l.URL == ""):
			return &SettingError{setting, "give a file or a url, not both"}
		case l.URL != "" && !strings.HasPrefix(l.URL, "https://"):
			return &SettingError{setting + ".url", "want an https:// URL"}
		}
		names[l.Name] = true
	}
	for i, a := range c.Admins {
		if at := strings.LastIndexByte(a, '@'); at < 1 || at == len(a)-1 || strings.ContainsAny(a, " <>\t") {
			return &SettingError{fmt.Sprintf("admins[%d]", i), "want an email address, e.g. ops@example.com"}
		}
	}
	if c.RPID == "" {
		c.RPID = u.Hostname()
	}
	if h := u.Hostname(); h != c.RPID && !strings.HasSuffix(h, "."+c.RPID) {
		return &SettingError{"rp_id", "must be public_url's host or a parent domain of it"}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return &SettingError{"tls.cert_file", "set both tls.cert_file and tls.key_file, or neither"}
	}
	if c.TLS.CertFile != "" && u.Scheme == "http" {
		return &SettingError{"public_url", "is http://, but tls.cert_file is set, so the server serves HTTPS and would tell clients the wrong scheme: write https://" + u.Host}
	}
	if c.Database.Postgres == "" && c.Database.SQLite == "" {
		return &SettingError{"database.postgres", "set database.postgres (or database.sqlite for one server)"}
	}
	if c.SMTP.Host == "" {
		return &SettingError{"smtp.host", "required: sign-in codes are sent by mail"}
	}
	if c.SMTP.From == "" {
		return &SettingError{"smtp.from", "required"}
	}
	if len(c.Secretd.Addrs) == 0 {
		return &SettingError{"secretd.addrs", "required: the secretd runner addresses"}
	}
	if c.Secretd.Identity == "" {
		return &SettingError{"secretd.identity", "required: the cluster identity (base64)"}
	}
	if c.Secretd.KeyFile == "" {
		return &SettingError{"secretd.key_file", "required: this server's client key file"}
	}
	if c.TokenKeyFile == "" {
		return &SettingError{"token_key_file", "required: 32 random bytes in base64"}
	}
	if _, err := parseProxies(c.TrustedProxies); err != nil {
		return err
	}
	if _, err := newLimits(c.RateLimits); err != nil {
		return err
	}
	for i, p := range c.OIDC {
		name := fmt.Sprintf("oidc[%d]", i)
		if p.Name == "" || p.ClientID == "" {
			return &SettingError{name, "needs name and client_id"}
		}
		if p.Preset == "" && p.Issuer == "" {
			return &SettingError{name, "needs an issuer, or a preset (google, apple)"}
		}
	}
	c.defaults()
	return nil
}

func (c *Config) defaults() {
	if c.Sessions.IdleTimeout.Duration == 0 {
		c.Sessions.IdleTimeout.Duration = 7 * 24 * time.Hour
	}
	if c.Sessions.MaxAge.Duration == 0 {
		c.Sessions.MaxAge.Duration = 30 * 24 * time.Hour
	}
	if c.Phishing.Sync.Duration == 0 {
		c.Phishing.Sync.Duration = time.Hour
	}
	if c.Users.PendingTTL.Duration == 0 {
		c.Users.PendingTTL.Duration = 24 * time.Hour
	}
	if c.Users.SessionKeyTTL.Duration == 0 {
		c.Users.SessionKeyTTL.Duration = 90 * 24 * time.Hour
	}
	if c.Sessions.RotateAfter.Duration == 0 {
		c.Sessions.RotateAfter.Duration = 24 * time.Hour
	}
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// DevConfig is the configuration of niomon dev: everything on loopback at
// publicURL, with the defaults.
func DevConfig(publicURL string) *Config {
	c := &Config{PublicURL: publicURL}
	if u, err := url.Parse(publicURL); err == nil {
		c.Listen, c.RPID = u.Host, u.Hostname()
	}
	c.defaults()
	return c
}
