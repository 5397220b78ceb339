package mail

import (
	"context"
	"html"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/niomon/niomon/internal/devmail"
)

// End to end over real SMTP: the sender the server uses delivers LoginCode to
// the development mailbox, and the code and link come back out of both parts.
func TestSMTPToDevmail_DeliversTheLoginCodeReadably(t *testing.T) {
	// A long link with "=" and "&": quoted-printable must soft-wrap it and
	// escape "=", base64 must wrap it; either way it must come back whole.
	link := "https://auth.niomon.test/login/magic?token=" + strings.Repeat("Zm9vYmFy=", 12) + "&next=%2Fwallet"
	tests := []struct {
		name     string
		host     string
		encoding gomail.Encoding
		user     string
		to       string
		wantRcpt string
	}{
		{"quoted-printable to 127.0.0.1", "127.0.0.1", gomail.EncodingQP, "", "alice@example.com", "alice@example.com"},
		{"base64 to 127.0.0.1", "127.0.0.1", gomail.EncodingB64, "", "bob@example.com", "bob@example.com"},
		{"quoted-printable to localhost with AUTH", "localhost", gomail.EncodingQP, "dev", "Carol Ünïcode <carol@example.com>", "carol@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			box, err := devmail.Start(ctx, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer box.Close()
			_, portStr, _ := net.SplitHostPort(box.Addr())
			port, _ := strconv.Atoi(portStr)

			cfg := SMTPConfig{Host: tt.host, Port: port, From: "Niomon <no-reply@niomon.test>", TLS: "none", Timeout: 5 * time.Second}
			if tt.user != "" {
				cfg.Username, cfg.Password = tt.user, "dev-password"
			}
			s, err := NewSMTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			s.encoding = tt.encoding

			const code = "604918"
			if err := s.Send(ctx, LoginCode(tt.to, code, link, 15*time.Minute, "Niomon")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			r, err := box.Wait(ctx, tt.wantRcpt)
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}

			if r.Subject != LoginCodeSubject || strings.Contains(r.Subject, code) {
				t.Errorf("Subject = %q; want %q without the code", r.Subject, LoginCodeSubject)
			}
			if r.From != "Niomon <no-reply@niomon.test>" {
				t.Errorf("From = %q", r.From)
			}
			if len(r.To) != 1 || r.To[0] != tt.wantRcpt {
				t.Errorf("To = %q; want [%s]", r.To, tt.wantRcpt)
			}

			if got := textCodeRE.FindStringSubmatch(r.Text); got == nil || got[1] != code {
				t.Errorf("code from the text part = %v; want %q\n%s", got, code, r.Text)
			}
			if got := textLinkRE.FindStringSubmatch(r.Text); got == nil || got[1] != link {
				t.Errorf("link from the text part = %v; want %q\n%s", got, link, r.Text)
			}
			if got := htmlCodeRE.FindStringSubmatch(r.HTML); got == nil || got[1] != code {
				t.Errorf("code from the HTML part = %v; want %q\n%s", got, code, r.HTML)
			}
			if got := htmlHrefRE.FindStringSubmatch(r.HTML); got == nil || html.UnescapeString(got[1]) != link {
				t.Errorf("link from the HTML part = %v; want %q\n%s", got, link, r.HTML)
			}
		})
	}
}
