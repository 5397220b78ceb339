package mail

import (
	"errors"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestNewSMTP_RefusesBadConfigNamingTheSetting(t *testing.T) {
	good := SMTPConfig{Host: "smtp.example.com", From: "Niomon <no-reply@example.com>"}
	tests := []struct {
		name      string
		edit      func(*SMTPConfig)
		wantField string
	}{
		{"empty host", func(c *SMTPConfig) { c.Host = "" }, "Host"},
		{"host with a port", func(c *SMTPConfig) { c.Host = "smtp.example.com:587" }, "Host"},
		{"unix socket host", func(c *SMTPConfig) { c.Host = "unix:///var/run/smtp.sock" }, "Host"},
		{"host with a space", func(c *SMTPConfig) { c.Host = "smtp example.com" }, "Host"},
		{"TLS none to a remote host", func(c *SMTPConfig) { c.TLS = "none" }, "TLS"},
		{"TLS none to a private IP", func(c *SMTPConfig) { c.TLS, c.Host = "none", "10.0.0.1" }, "TLS"},
		{"TLS none to a localhost look-alike", func(c *SMTPConfig) { c.TLS, c.Host = "none", "localhost.example.com" }, "TLS"},
		{"TLS none to every interface", func(c *SMTPConfig) { c.TLS, c.Host = "none", "0.0.0.0" }, "TLS"},
		{"unknown TLS mode", func(c *SMTPConfig) { c.TLS = "ssl" }, "TLS"},
		{"port too large", func(c *SMTPConfig) { c.Port = 70000 }, "Port"},
		{"negative port", func(c *SMTPConfig) { c.Port = -1 }, "Port"},
		{"empty From", func(c *SMTPConfig) { c.From = "" }, "From"},
		{"From not an address", func(c *SMTPConfig) { c.From = "Niomon" }, "From"},
		{"From with two addresses", func(c *SMTPConfig) { c.From = "a@example.com, b@example.com" }, "From"},
		{"From with a header break", func(c *SMTPConfig) { c.From = "a@example.com\r\nBcc: x@evil.example" }, "From"},
		{"From without a domain", func(c *SMTPConfig) { c.From = "a@" }, "From"},
		{"username without password", func(c *SMTPConfig) { c.Username = "u" }, "Password"},
		{"password without username", func(c *SMTPConfig) { c.Password = "hunter2-secret" }, "Username"},
		{"negative timeout", func(c *SMTPConfig) { c.Timeout = -time.Second }, "Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			cfg.Password = ""
			tt.edit(&cfg)
			s, err := NewSMTP(cfg)
			if err == nil {
				t.Fatalf("NewSMTP accepted %+v (sending to %s)", cfg, s.addr)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.wantField {
				t.Fatalf("NewSMTP = %v; want a ConfigError for %s", err, tt.wantField)
			}
			if !strings.Contains(err.Error(), "SMTPConfig."+tt.wantField) {
				t.Errorf("error %q does not name SMTPConfig.%s", err, tt.wantField)
			}
			if cfg.Password != "" && strings.Contains(err.Error(), cfg.Password) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestNewSMTP_AcceptsGoodConfigWithDefaults(t *testing.T) {
	tests := []struct {
		name     string
		cfg      SMTPConfig
		wantMode string
		wantAddr string
	}{
		{"STARTTLS is the default", SMTPConfig{Host: "smtp.example.com", From: "a@example.com"}, TLSStartTLS, "smtp.example.com:587"},
		{"implicit TLS", SMTPConfig{Host: "smtp.example.com", From: "a@example.com", TLS: "tls"}, TLSImplicit, "smtp.example.com:465"},
		{"explicit port and mode in capitals", SMTPConfig{Host: "smtp.example.com", Port: 2525, From: "a@example.com", TLS: "STARTTLS"}, TLSStartTLS, "smtp.example.com:2525"},
		{"none to 127.0.0.1", SMTPConfig{Host: "127.0.0.1", From: "a@example.com", TLS: "none"}, TLSNone, "127.0.0.1:25"},
		{"none to another 127/8 address", SMTPConfig{Host: "127.0.0.53", Port: 1025, From: "a@example.com", TLS: "none"}, TLSNone, "127.0.0.53:1025"},
		{"none to ::1", SMTPConfig{Host: "::1", From: "a@example.com", TLS: "none"}, TLSNone, "[::1]:25"},
		{"none to [::1]", SMTPConfig{Host: "[::1]", From: "a@example.com", TLS: "none"}, TLSNone, "[::1]:25"},
		{"none to localhost", SMTPConfig{Host: "LocalHost", From: "a@example.com", TLS: "none"}, TLSNone, "LocalHost:25"},
		{"with credentials", SMTPConfig{Host: "smtp.example.com", From: "a@example.com", Username: "u", Password: "p"}, TLSStartTLS, "smtp.example.com:587"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSMTP(tt.cfg)
			if err != nil {
				t.Fatalf("NewSMTP: %v", err)
			}
			if s.mode != tt.wantMode || s.addr != tt.wantAddr || s.timeout != DefaultTimeout {
				t.Fatalf("mode %q addr %q timeout %v; want %q %q %v", s.mode, s.addr, s.timeout, tt.wantMode, tt.wantAddr, DefaultTimeout)
			}
		})
	}
}

func TestMessageValidate_RefusesHeaderInjectionAndBadFields(t *testing.T) {
	ok := Message{To: "alice@example.com", Subject: "Your sign-in code", Text: "123456"}
	tests := []struct {
		name string
		edit func(*Message)
	}{
		{"To with CRLF and a Bcc header", func(m *Message) { m.To = "alice@example.com\r\nBcc: evil@evil.example" }},
		{"To with a bare LF", func(m *Message) { m.To = "alice@example.com\nBcc: evil@evil.example" }},
		{"To with a bare CR", func(m *Message) { m.To = "alice@example.com\rBcc: evil@evil.example" }},
		{"To with CRLF inside the display name", func(m *Message) { m.To = "\"Alice\r\nBcc: evil@evil.example\" <alice@example.com>" }},
		{"To with a NUL", func(m *Message) { m.To = "alice@example.com\x00" }},
		{"To with two addresses", func(m *Message) { m.To = "alice@example.com, evil@evil.example" }},
		{"To as a group", func(m *Message) { m.To = "friends: alice@example.com, evil@evil.example;" }},
		{"To without @", func(m *Message) { m.To = "alice" }},
		{"To empty", func(m *Message) { m.To = "" }},
		{"To too long", func(m *Message) { m.To = strings.Repeat("a", 250) + "@example.com" }},
		{"Subject with CRLF and a header", func(m *Message) { m.Subject = "Hello\r\nBcc: evil@evil.example" }},
		{"Subject with a bare LF", func(m *Message) { m.Subject = "Hello\nX-Injected: 1" }},
		{"Subject with a bare CR", func(m *Message) { m.Subject = "Hello\rX-Injected: 1" }},
		{"Subject with a Unicode line separator", func(m *Message) { m.Subject = "Hello\u2028X-Injected: 1" }},
		{"Subject with a C1 next-line control", func(m *Message) { m.Subject = "Hello\u0085X-Injected: 1" }},
		{"Subject with a NUL", func(m *Message) { m.Subject = "Hello\x00" }},
		{"Subject not UTF-8", func(m *Message) { m.Subject = "Hello \xff" }},
		{"Subject too long", func(m *Message) { m.Subject = strings.Repeat("x", 999) }},
		{"no body", func(m *Message) { m.Text, m.HTML = "", "" }},
		{"body not UTF-8", func(m *Message) { m.Text = "\xff\xfe" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok
			tt.edit(&m)
			_, err := m.validate()
			if !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("validate = %v; want ErrInvalidMessage", err)
			}
			if strings.Contains(err.Error(), "evil@evil.example") || strings.Contains(err.Error(), "123456") {
				t.Errorf("error %q repeats the refused value", err)
			}
		})
	}
}

func TestMessageValidate_AcceptsOrdinaryMessages(t *testing.T) {
	tests := []struct {
		name string
		m    Message
	}{
		{"bare address", Message{To: "alice@example.com", Subject: "s", Text: "t"}},
		{"display name", Message{To: "Alice Liddell <alice@example.com>", Subject: "s", HTML: "<p>h</p>"}},
		{"non-ASCII display name and subject", Message{To: "Zoë <zoe@example.com>", Subject: "Café ✔ — code", Text: "t"}},
		{"empty subject", Message{To: "alice@example.com", Text: "t"}},
		{"subject at the limit", Message{To: "alice@example.com", Subject: strings.Repeat("x", maxHeaderBytes), Text: "t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.m.validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
		})
	}
}

var (
	textCodeRE = regexp.MustCompile(`(?m)^    (\S+)$`)
	textLinkRE = regexp.MustCompile(`(?m)^(https?://\S+)$`)
	htmlCodeRE = regexp.MustCompile(`letter-spacing:4px;margin:16px 0;">([^<]*)</p>`)
	htmlHrefRE = regexp.MustCompile(`<a href="([^"]*)"`)
)

func TestLoginCode_RendersCodeAndLinkInBothParts(t *testing.T) {
	tests := []struct {
		name        string
		code, link  string
		expires     time.Duration
		product     string
		wantLink    string // "" = no link in either part
		wantExpiry  string // "" = no expiry sentence
		wantProduct string // as it appears in the text part
	}{
		{"https link", "482915", "https://auth.example.com/login/magic?token=abc&next=%2F", 10 * time.Minute, "Niomon",
			"https://auth.example.com/login/magic?token=abc&next=%2F", "expire in 10 minutes", "Niomon"},
		{"http link for a local dev stack", "000001", "http://localhost:8080/magic?t=x", 90 * time.Second, "Ditto",
			"http://localhost:8080/magic?t=x", "expire in 1 minute", "Ditto"},
		{"javascript link is dropped", "111111", "javascript:alert(document.cookie)", time.Hour, "Niomon", "", "The code expires in 1 hour", "Niomon"},
		{"relative link is dropped", "222222", "/login/magic?token=abc", time.Hour, "Niomon", "", "expires in 1 hour", "Niomon"},
		{"link with a line break is dropped", "333333", "https://a.example/x\r\nBcc: y", time.Hour, "Niomon", "", "expires", "Niomon"},
		{"no link", "444444", "", 0, "", "", "", "Niomon"},
		{"product with markup is escaped", "555555", "https://a.example/m", 15 * time.Minute, "<b>Acme</b> & Co", "https://a.example/m", "15 minutes", "<b>Acme</b> & Co"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := LoginCode("alice@example.com", tt.code, tt.link, tt.expires, tt.product)

			if m.To != "alice@example.com" || m.Subject != LoginCodeSubject {
				t.Fatalf("To, Subject = %q, %q", m.To, m.Subject)
			}
			if strings.Contains(m.Subject, tt.code) {
				t.Fatalf("subject %q carries the code", m.Subject)
			}
			if _, err := m.validate(); err != nil {
				t.Fatalf("rendered message does not validate: %v", err)
			}

			if got := textCodeRE.FindStringSubmatch(m.Text); got == nil || got[1] != tt.code {
				t.Errorf("text part code = %v; want %q\n%s", got, tt.code, m.Text)
			}
			if got := htmlCodeRE.FindStringSubmatch(m.HTML); got == nil || html.UnescapeString(got[1]) != tt.code {
				t.Errorf("HTML part code = %v; want %q\n%s", got, tt.code, m.HTML)
			}

			textLink := textLinkRE.FindStringSubmatch(m.Text)
			hrefs := htmlHrefRE.FindAllStringSubmatch(m.HTML, -1)
			if tt.wantLink == "" {
				if textLink != nil || hrefs != nil {
					t.Errorf("link present: text %v, hrefs %v", textLink, hrefs)
				}
				if strings.Contains(m.Text, "javascript:") || strings.Contains(m.HTML, "javascript:") {
					t.Errorf("javascript: URL reached the mail")
				}
			} else {
				if textLink == nil || textLink[1] != tt.wantLink {
					t.Errorf("text part link = %v; want %q", textLink, tt.wantLink)
				}
				if len(hrefs) != 1 || html.UnescapeString(hrefs[0][1]) != tt.wantLink {
					t.Errorf("HTML hrefs = %v; want one for %q", hrefs, tt.wantLink)
				}
			}

			if tt.wantExpiry == "" {
				if strings.Contains(m.Text, "expire") || strings.Contains(m.HTML, "expire") {
					t.Errorf("expiry mentioned for expires=%v", tt.expires)
				}
			} else if !strings.Contains(m.Text, tt.wantExpiry) || !strings.Contains(m.HTML, tt.wantExpiry) {
				t.Errorf("expiry %q missing\ntext: %s\nhtml: %s", tt.wantExpiry, m.Text, m.HTML)
			}

			if !strings.Contains(m.Text, "for "+tt.wantProduct+" is") {
				t.Errorf("text part lacks product %q", tt.wantProduct)
			}
			if strings.Contains(tt.wantProduct, "<") {
				if strings.Contains(m.HTML, tt.wantProduct) || !strings.Contains(m.HTML, html.EscapeString(tt.wantProduct)) {
					t.Errorf("HTML part does not escape product %q", tt.wantProduct)
				}
			}
		})
	}
}

func TestLoginCode_EscapesAHostileCodeInHTML(t *testing.T) {
	m := LoginCode("a@example.com", `<img src=x onerror=alert(1)>`, "", time.Minute, "")
	if strings.Contains(m.HTML, "<img") {
		t.Fatalf("HTML part contains raw markup from the code:\n%s", m.HTML)
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, ""},
		{-time.Minute, ""},
		{500 * time.Millisecond, ""},
		{time.Second, "1 second"},
		{45 * time.Second, "45 seconds"},
		{time.Minute, "1 minute"},
		{119 * time.Second, "1 minute"}, // rounded down
		{10 * time.Minute, "10 minutes"},
		{time.Hour, "1 hour"},
		{90 * time.Minute, "1 hour 30 minutes"},
		{48 * time.Hour, "48 hours"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%v) = %q; want %q", tt.d, got, tt.want)
		}
	}
}
