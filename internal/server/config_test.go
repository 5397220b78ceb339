package server_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/server"
)

const goodConfig = `{
  "public_url": "https://wallet.example.com",
  "listen": "0.0.0.0:8443",
  "database": {"postgres": "postgres://niomon@db/niomon"},
  "smtp": {"host": "smtp.example.com", "from": "Niomon <no-reply@example.com>"},
  "secretd": {"addrs": ["10.0.0.5:9000"], "identity": "AAAA", "key_file": "/etc/niomon/secretd.key",
              "attestation": {"pcrs": {"0": "00"}}},
  "token_key_file": "/etc/niomon/token.key",
  "oidc": [{"name": "google", "preset": "google", "client_id": "x.apps.example"}]
}`

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "niomon.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfig_NamesTheWrongOrMissingSetting(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		env         []string
		wantSetting string // "" means valid
	}{
		{"a complete file", goodConfig, nil, ""},
		{"public_url over plain http to a public host", goodConfig, []string{"NIOMON_PUBLIC_URL=http://wallet.example.com"}, "public_url"},
		{"public_url over http to loopback is allowed", goodConfig, []string{"NIOMON_PUBLIC_URL=http://localhost:8080", "NIOMON_RP_ID=localhost"}, ""},
		{"an rp_id that is not a parent of the host", goodConfig, []string{"NIOMON_RP_ID=evil.example"}, "rp_id"},
		{"no database", strings.Replace(goodConfig, `"postgres": "postgres://niomon@db/niomon"`, `"postgres": ""`, 1), nil, "database.postgres"},
		{"no SMTP host", goodConfig, []string{"NIOMON_SMTP_HOST="}, "smtp.host"},
		{"no secretd address", goodConfig, []string{"NIOMON_SECRETD_ADDRS="}, "secretd.addrs"},
		{"a listen address without a port", goodConfig, []string{"NIOMON_LISTEN=0.0.0.0"}, "listen"},
		{"half of a TLS pair", goodConfig, []string{"NIOMON_TLS_CERT_FILE=/etc/cert.pem"}, "tls.cert_file"},
		{"an OIDC provider without a client id", strings.Replace(goodConfig, `"client_id": "x.apps.example"`, `"client_id": ""`, 1), nil, "oidc[0]"},
		{"a duration that is not one", goodConfig, []string{"NIOMON_SESSIONS_IDLE_TIMEOUT=soon"}, "sessions.idle_timeout"},
		{"a duration in days in the file", strings.Replace(goodConfig, `"listen"`, `"sessions": {"idle_timeout": "1h", "max_age": "1d"}, "listen"`, 1), nil, "sessions.max_age"},
		{"a duration that is a number in the file", strings.Replace(goodConfig, `"listen"`, `"phishing": {"sync": 60}, "listen"`, 1), nil, "phishing.sync"},
		{"an empty file", "{}", nil, "public_url"},
		{"public_url with a path", goodConfig, []string{"NIOMON_PUBLIC_URL=https://wallet.example.com/niomon"}, "public_url"},
		{"public_url with a query", goodConfig, []string{"NIOMON_PUBLIC_URL=https://wallet.example.com?x=1"}, "public_url"},
		{"public_url with a trailing slash is allowed", goodConfig, []string{"NIOMON_PUBLIC_URL=https://wallet.example.com/"}, ""},
		{"an http public_url with TLS settings", goodConfig, []string{"NIOMON_PUBLIC_URL=http://localhost:8080", "NIOMON_RP_ID=localhost", "NIOMON_TLS_CERT_FILE=/c.pem", "NIOMON_TLS_KEY_FILE=/k.pem"}, "public_url"},
		{"trusted proxies as prefixes and addresses", goodConfig, []string{"NIOMON_TRUSTED_PROXIES=10.0.0.0/8,192.0.2.10,2001:db8::/32"}, ""},
		{"a trusted proxy that is a name, not an address", goodConfig, []string{"NIOMON_TRUSTED_PROXIES=10.0.0.0/8,proxy.internal"}, "trusted_proxies"},
		{"a trusted proxy prefix that is everyone", goodConfig, []string{"NIOMON_TRUSTED_PROXIES=0.0.0.0/0"}, "trusted_proxies"},
		{"a short IPv4-mapped trusted prefix", goodConfig, []string{"NIOMON_TRUSTED_PROXIES=::ffff:0:0/80"}, "trusted_proxies"},
		{"a rate limit that does not exist", strings.Replace(goodConfig, `"public_url"`, `"rate_limits": {"logins_per_minute": 5}, "public_url"`, 1), nil, "rate_limits.logins_per_minute"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := server.LoadConfig(writeConfig(t, tc.body), tc.env)
			if err == nil {
				err = cfg.Validate()
			}
			var se *server.SettingError
			switch {
			case tc.wantSetting == "" && err != nil:
				t.Fatalf("got %v, want a valid configuration", err)
			case tc.wantSetting != "" && (!errors.As(err, &se) || se.Setting != tc.wantSetting):
				t.Fatalf("got %v, want an error naming %s", err, tc.wantSetting)
			case tc.wantSetting != "" && !strings.Contains(err.Error(), "NIOMON_"):
				t.Fatalf("the error %q does not name the environment variable", err)
			}
		})
	}
}

func TestConfig_EnvironmentOverridesTheFile(t *testing.T) {
	cfg, err := server.LoadConfig(writeConfig(t, goodConfig), []string{
		"NIOMON_SMTP_PORT=2525", "NIOMON_SECRETD_ADDRS=a:1, b:2", "NIOMON_SESSIONS_MAX_AGE=48h", "NIOMON_SECRETD_ATTESTATION_ALLOW_DEV=true", "OTHER=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTP.Port != 2525 || strings.Join(cfg.Secretd.Addrs, ",") != "a:1,b:2" || cfg.Sessions.MaxAge.Duration != 48*time.Hour || !cfg.Secretd.Attestation.AllowDev {
		t.Fatalf("got port %d, addrs %v, max age %v, allow_dev %t", cfg.SMTP.Port, cfg.Secretd.Addrs, cfg.Sessions.MaxAge, cfg.Secretd.Attestation.AllowDev)
	}
	if cfg.SMTP.Host != "smtp.example.com" {
		t.Fatalf("a setting without a variable changed: smtp.host = %q", cfg.SMTP.Host)
	}
}

func TestConfig_RefusesUnknownSettings(t *testing.T) {
	_, err := server.LoadConfig(writeConfig(t, strings.Replace(goodConfig, `"listen"`, `"lisen"`, 1)), nil)
	if err == nil || !strings.Contains(err.Error(), "lisen") {
		t.Fatalf("got %v, want an error naming the unknown setting", err)
	}
}

// The complete example in the operators' guide is a configuration the
// server accepts as it stands (unknown settings would be refused).
func TestConfig_TheGuidesCompleteExampleLoads(t *testing.T) {
	doc, err := os.ReadFile("../../docs/niomon-operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "### A complete example\n\n```json\n")
	body, _, closed := strings.Cut(after, "\n```")
	if !ok || !closed {
		t.Fatal("the guide has no complete example in a json block")
	}
	cfg, err := server.LoadConfig(writeConfig(t, body), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.OIDC) != 3 || cfg.OIDC[1].SignedClientSecret == nil || len(cfg.TrustedProxies) != 1 || len(cfg.Admins) != 1 || len(cfg.Phishing.Lists) != 2 {
		t.Fatalf("the example as loaded: %d providers, apple signed secret %v, trusted proxies %v", len(cfg.OIDC), cfg.OIDC[1].SignedClientSecret, cfg.TrustedProxies)
	}
}
