package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"
)

const (
	secretCode = "918273"
	secretLink = "https://auth.niomon.test/login/magic?token=SECRETTOKEN42"
)

func loginMail() Message {
	return LoginCode("alice@example.com", secretCode, secretLink, 10*time.Minute, "Niomon")
}

// Check, run first, agrees with Send in every mode and delivers nothing.
func TestSendAndCheck_TLSModes(t *testing.T) {
	cert, pool := testCert(t)
	tests := []struct {
		name          string
		server        fakeTLS
		mode          string
		host          string
		trusted       bool
		user          string
		wantDelivered bool
		wantTLS       bool
	}{
		{"starttls upgrades the connection", fakeStartTLS, "starttls", "127.0.0.1", true, "", true, true},
		{"starttls by host name", fakeStartTLS, "starttls", "localhost", true, "", true, true},
		{"starttls authenticates inside TLS", fakeStartTLS, "starttls", "127.0.0.1", true, "niomon", true, true},
		{"starttls refuses a server without STARTTLS (no downgrade)", fakePlain, "starttls", "127.0.0.1", true, "", false, false},
		{"starttls refuses an untrusted certificate", fakeStartTLS, "starttls", "127.0.0.1", false, "", false, false},
		{"implicit tls", fakeImplicit, "tls", "127.0.0.1", true, "niomon", true, true},
		{"implicit tls refuses a plaintext server", fakePlain, "tls", "127.0.0.1", true, "", false, false},
		{"implicit tls refuses an untrusted certificate", fakeImplicit, "tls", "127.0.0.1", false, "", false, false},
		{"none on loopback sends in the clear", fakePlain, "none", "127.0.0.1", true, "niomon", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, tt.server, cert, nil)
			cfg := SMTPConfig{Host: tt.host, Port: f.port, From: "Niomon <no-reply@niomon.test>", TLS: tt.mode, Timeout: 5 * time.Second}
			if tt.user != "" {
				cfg.Username, cfg.Password = tt.user, "hunter2-secret"
			}
			if tt.trusted {
				cfg.rootCAs = pool
			}
			s, err := NewSMTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if cerr := s.Check(t.Context()); (cerr == nil) != tt.wantDelivered {
				t.Fatalf("Check = %v; want ok %v", cerr, tt.wantDelivered)
			}
			if n := len(f.mails()); n != 0 {
				t.Fatalf("Check delivered %d mails", n)
			}
			err = s.Send(t.Context(), loginMail())
			got := f.mails()
			if !tt.wantDelivered {
				if err == nil || len(got) != 0 {
					t.Fatalf("Send = %v with %d delivered; want a refusal before any mail", err, len(got))
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("%d mails delivered; want 1", len(got))
			}
			if got[0].tls != tt.wantTLS {
				t.Errorf("delivered over TLS = %v; want %v", got[0].tls, tt.wantTLS)
			}
			if tt.user != "" && (got[0].authUser != tt.user || got[0].authPass != "hunter2-secret") {
				t.Errorf("server saw AUTH %q/%q; want %q and the password", got[0].authUser, got[0].authPass, tt.user)
			}
		})
	}
}

func TestSend_ErrorsNeverCarryTheBodyOrPassword(t *testing.T) {
	echo := func(code int) func([]byte) error {
		// A hostile or chatty server that quotes the message in its reply.
		return func(body []byte) error {
			return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: "rejected: " + strings.Join(strings.Fields(string(body)), " ")}
		}
	}
	tests := []struct {
		name      string
		configure func(*fakeServer)
		user      string
		wantCode  int
		wantTemp  bool
		wantStep  string
	}{
		{"permanent rejection at DATA quoting the body", func(f *fakeServer) { f.dataErr = echo(554) }, "", 554, false, "closing SMTP DATA writer"},
		{"temporary rejection at DATA quoting the body", func(f *fakeServer) { f.dataErr = echo(451) }, "", 451, true, "closing SMTP DATA writer"},
		{"recipient refused", func(f *fakeServer) {
			f.rcptErr = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}, "", 550, false, "sending SMTP RCPT TO command"},
		{"authentication refused", func(f *fakeServer) { f.authErr = errors.New("bad credentials") }, "niomon", 0, false, "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, fakePlain, nil, tt.configure)
			cfg := SMTPConfig{Host: "127.0.0.1", Port: f.port, From: "no-reply@niomon.test", TLS: "none", Timeout: 5 * time.Second}
			if tt.user != "" {
				cfg.Username, cfg.Password = tt.user, "hunter2-secret"
			}
			s, err := NewSMTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(t.Context(), loginMail())
			if err == nil {
				t.Fatal("Send succeeded; want an error")
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			for _, secret := range []string{secretCode, "SECRETTOKEN42", "hunter2-secret", "sign-in code for"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q contains %q", msg, secret)
				}
			}
			var se *SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send = %T %v; want *SendError", err, err)
			}
			if se.Code != tt.wantCode || se.Temporary != tt.wantTemp || se.Step != tt.wantStep {
				t.Errorf("SendError{Step %q, Code %d, Temporary %v}; want {%q, %d, %v}", se.Step, se.Code, se.Temporary, tt.wantStep, tt.wantCode, tt.wantTemp)
			}
			if se.Server != f.addr || !strings.Contains(msg, f.addr) {
				t.Errorf("error %q does not name the server %s", msg, f.addr)
			}
			if tt.wantCode != 0 && !strings.Contains(msg, fmt.Sprint(tt.wantCode)) {
				t.Errorf("error %q lacks the reply code %d", msg, tt.wantCode)
			}
			if tt.wantCode != 0 && errors.Unwrap(err) != nil {
				t.Errorf("a send-stage SendError unwraps to %v; want nothing that could quote the server", errors.Unwrap(err))
			}
		})
	}
}

func TestSend_ConnectionRefusedNamesTheServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, From: "no-reply@niomon.test", TLS: "none", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(t.Context(), loginMail())
	var se *SendError
	if !errors.As(err, &se) || se.Step != "connect" || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Fatalf("Send = %v; want a connect SendError naming the server", err)
	}
	var ne *net.OpError
	if !errors.As(err, &ne) {
		t.Errorf("Send = %v; want the network error reachable with errors.As", err)
	}
	if err := s.Check(t.Context()); !errors.As(err, &se) || se.Step != "connect" || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Fatalf("Check = %v; want a connect SendError naming the server", err)
	}
}

func TestSend_ContextEndsTheExchange(t *testing.T) {
	tests := []struct {
		name  string
		start func(t *testing.T) int // returns the port
	}{
		{"server that never greets", func(t *testing.T) int {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					t.Cleanup(func() { c.Close() }) // hold it open, silent
				}
			}()
			return ln.Addr().(*net.TCPAddr).Port
		}},
		{"server that stalls after DATA", func(t *testing.T) int {
			return startFake(t, fakePlain, nil, func(f *fakeServer) { f.stallAt = "data" }).port
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := tt.start(t)
			// The connection timeout is long: only ctx can end this quickly.
			s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, From: "no-reply@niomon.test", TLS: "none", Timeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			err = s.Send(ctx, loginMail())
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Send = %v; want context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("Send took %v after its context ended", d)
			}
		})
	}
}

func TestSend_RefusesInvalidMessagesBeforeConnecting(t *testing.T) {
	// Nothing listens here: a refusal must come from validation, not the network.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, From: "no-reply@niomon.test", TLS: "none"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		m    Message
	}{
		{"Bcc smuggled into To", Message{To: "alice@example.com\r\nBcc: evil@evil.example", Subject: "s", Text: "t"}},
		{"header smuggled into Subject", Message{To: "alice@example.com", Subject: "s\r\nBcc: evil@evil.example", Text: "t"}},
		{"LoginCode to a smuggled address", LoginCode("alice@example.com\nBcc: evil@evil.example", "1", "", 0, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Send(t.Context(), tt.m); !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("Send = %v; want ErrInvalidMessage", err)
			}
		})
	}
}

func TestSend_WritesTheConfiguredTransferEncoding(t *testing.T) {
	tests := []struct {
		name     string
		encoding gomail.Encoding
		wantCTE  string
	}{
		{"quoted-printable by default", gomail.EncodingQP, "Content-Transfer-Encoding: quoted-printable"},
		{"base64", gomail.EncodingB64, "Content-Transfer-Encoding: base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, fakePlain, nil, nil)
			s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: f.port, From: "Niomon <no-reply@niomon.test>", TLS: "none"})
			if err != nil {
				t.Fatal(err)
			}
			s.encoding = tt.encoding
			if err := s.Send(t.Context(), loginMail()); err != nil {
				t.Fatal(err)
			}
			raw := f.mails()[0].raw
			if bytes.Count(raw, []byte(tt.wantCTE)) != 2 {
				t.Errorf("want %q on both parts:\n%s", tt.wantCTE, raw)
			}
			// On the wire the link is encoded ("=" → "=3D", or base64), so a
			// receiver that did not decode would not find it.
			if bytes.Contains(raw, []byte(secretLink)) {
				t.Errorf("link travels unencoded; the end-to-end test would not exercise decoding")
			}
			for _, h := range []string{"Subject: Your sign-in code\r\n", "To: <alice@example.com>\r\n", "Message-ID: <", "@niomon.test>\r\n", "multipart/alternative"} {
				if !bytes.Contains(raw, []byte(h)) {
					t.Errorf("raw message lacks %q:\n%s", h, raw)
				}
			}
		})
	}
}
