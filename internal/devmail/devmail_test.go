package devmail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// startMailbox starts a mailbox on 127.0.0.1 that the test closes at its end.
func startMailbox(t *testing.T, opts ...Option) *Mailbox {
	t.Helper()
	m, err := Start(t.Context(), "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// sendRaw delivers a hand-written message with the standard library's SMTP
// client, an implementation independent of go-mail and go-smtp.
func sendRaw(addr, from string, to []string, raw string) error {
	return smtp.SendMail(addr, nil, from, to, []byte(crlf(raw)))
}

func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

func simpleMessage(to, subject, body string) string {
	return fmt.Sprintf("From: dev@niomon.test\nTo: %s\nSubject: %s\nDate: Mon, 02 Jan 2006 15:04:05 +0000\n\n%s\n", to, subject, body)
}

func TestStart_RefusesNonLoopbackListenAddresses(t *testing.T) {
	tests := []struct {
		name string
		addr string
	}{
		{"every IPv4 interface", "0.0.0.0:0"},
		{"every interface, empty host", ":0"},
		{"every IPv6 interface", "[::]:0"},
		{"a private address", "10.0.0.1:2525"},
		{"a documentation address", "192.0.2.1:0"},
		{"a host name", "mail.example.com:25"},
		{"localhost look-alike", "localhost.example.com:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Start(t.Context(), tt.addr)
			if err == nil {
				m.Close()
				t.Fatalf("Start(%q) succeeded; want a refusal", tt.addr)
			}
			if !errors.Is(err, ErrNotLoopback) {
				t.Fatalf("Start(%q) = %v; want ErrNotLoopback", tt.addr, err)
			}
		})
	}
}

func TestStart_AcceptsLoopbackListenAddresses(t *testing.T) {
	tests := []struct {
		name string
		addr string
	}{
		{"IPv4 loopback", "127.0.0.1:0"},
		{"other IPv4 loopback", "127.0.0.2:0"},
		{"localhost", "localhost:0"},
		{"IPv6 loopback", "[::1]:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Start(t.Context(), tt.addr)
			if err != nil {
				if errors.Is(err, ErrNotLoopback) {
					t.Fatalf("Start(%q) refused a loopback address: %v", tt.addr, err)
				}
				// Only a machine without that loopback (no IPv6, say) may
				// excuse this; if the system can listen there, Start must.
				ln, lerr := net.Listen("tcp", tt.addr)
				if lerr == nil {
					ln.Close()
					t.Fatalf("Start(%q): %v, though the system can listen there", tt.addr, err)
				}
				t.Skipf("this machine cannot listen on %q: %v", tt.addr, lerr)
			}
			defer m.Close()
			host, _, err := net.SplitHostPort(m.Addr())
			if err != nil {
				t.Fatalf("Addr() = %q: %v", m.Addr(), err)
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				t.Fatalf("Addr() = %q; want a loopback IP", m.Addr())
			}
			c, err := net.Dial("tcp", m.Addr())
			if err != nil {
				t.Fatalf("dial %s: %v", m.Addr(), err)
			}
			c.Close()
		})
	}
}

func TestStart_RefusesBadLimitsAndAddresses(t *testing.T) {
	tests := []struct {
		name string
		addr string
		opts []Option
	}{
		{"address without port", "127.0.0.1", nil},
		{"zero messages", "127.0.0.1:0", []Option{WithMaxMessages(0)}},
		{"zero bytes", "127.0.0.1:0", []Option{WithMaxMessageBytes(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Start(t.Context(), tt.addr, tt.opts...)
			if err == nil {
				m.Close()
				t.Fatal("Start succeeded; want an error")
			}
		})
	}
}

func TestStart_StopsServingWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	m, err := Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := m.Addr()
	cancel()

	wctx, wcancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer wcancel()
	if _, err := m.Wait(wctx, "a@niomon.test"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after ctx ended = %v; want ErrClosed", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("still accepting connections on %s after ctx ended", addr)
	}
}

func TestMailbox_StoresHandWrittenMessagesFromNetSMTP(t *testing.T) {
	tests := []struct {
		name        string
		raw         string
		wantFrom    string
		wantSubject string
		wantText    string
		wantHTML    string
	}{
		{
			name: "multipart/alternative with a quoted-printable text part and a base64 HTML part",
			raw: `From: =?utf-8?q?Niomon_D=C3=A9v?= <no-reply@niomon.test>
To: alice@example.com
Subject: =?utf-8?q?Your_sign-in_code_=E2=9C=94?=
Date: Tue, 03 Mar 2026 10:00:00 +0100
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="=_b1"

--=_b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Code: 482915 =E2=80=94 link: https://auth.niomon.test/login/magic?token=3Dabc=
def&next=3D%2F
Caf=C3=A9
--=_b1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

PHA+Q29kZTogPGI+NDgyOTE1PC9iPjwvcD48YSBocmVmPSJodHRwczovL2F1dGgubmlvbW9uLnRl
c3QvbG9naW4vbWFnaWM/dG9rZW49YWJjZGVmJmFtcDtuZXh0PSUyRiI+U2lnbiBpbjwvYT4=
--=_b1--
`,
			wantFrom:    "Niomon Dév <no-reply@niomon.test>",
			wantSubject: "Your sign-in code ✔",
			wantText:    "Code: 482915 — link: https://auth.niomon.test/login/magic?token=abcdef&next=%2F\nCafé",
			wantHTML:    `<p>Code: <b>482915</b></p><a href="https://auth.niomon.test/login/magic?token=abcdef&amp;next=%2F">Sign in</a>`,
		},
		{
			name: "single text part in base64 and ISO-8859-1",
			raw: `From: dev@niomon.test
To: bob@example.com
Subject: =?iso-8859-1?q?R=E9sum=E9?=
MIME-Version: 1.0
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: base64

Q2Fm6SAxMjM0NTY=
`,
			wantFrom:    "dev@niomon.test",
			wantSubject: "Résumé",
			wantText:    "Café 123456",
		},
		{
			name: "nested multipart/mixed: the alternative parts are found, the attachment is skipped",
			raw: `From: dev@niomon.test
To: carol@example.com
Subject: nested
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain

plain body
--inner
Content-Type: text/html

<p>html body</p>
--inner--
--outer
Content-Type: text/plain
Content-Disposition: attachment; filename="notes.txt"

attached, not shown
--outer--
`,
			wantFrom:    "dev@niomon.test",
			wantSubject: "nested",
			wantText:    "plain body",
			wantHTML:    "<p>html body</p>",
		},
		{
			name: "no MIME headers at all: 7bit text",
			raw: `From: dev@niomon.test
To: dave@example.com
Subject: plain

line one
line two
`,
			wantFrom:    "dev@niomon.test",
			wantSubject: "plain",
			wantText:    "line one\nline two\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := startMailbox(t)
			if err := sendRaw(m.Addr(), "bounce@niomon.test", []string{"rcpt@example.com"}, tt.raw); err != nil {
				t.Fatalf("SendMail: %v", err)
			}
			got := m.Messages()
			if len(got) != 1 {
				t.Fatalf("Messages() has %d messages; want 1", len(got))
			}
			r := got[0]
			if r.From != tt.wantFrom {
				t.Errorf("From = %q; want %q", r.From, tt.wantFrom)
			}
			if len(r.To) != 1 || r.To[0] != "rcpt@example.com" {
				t.Errorf("To = %q; want the envelope recipient [rcpt@example.com]", r.To)
			}
			if r.Subject != tt.wantSubject {
				t.Errorf("Subject = %q; want %q", r.Subject, tt.wantSubject)
			}
			if strings.TrimRight(r.Text, "\n") != strings.TrimRight(tt.wantText, "\n") {
				t.Errorf("Text = %q; want %q", r.Text, tt.wantText)
			}
			if strings.TrimRight(r.HTML, "\n") != tt.wantHTML {
				t.Errorf("HTML = %q; want %q", r.HTML, tt.wantHTML)
			}
			if r.ID == "" || r.Size == 0 || r.Date.IsZero() {
				t.Errorf("ID = %q, Size = %d, Date = %v; want all set", r.ID, r.Size, r.Date)
			}
		})
	}
}

func TestMailbox_RefusesOversizedMessagesWithSMTPError(t *testing.T) {
	const limit = 2048
	tests := []struct {
		name      string
		bodyBytes int
		wantCode  int // 0: accepted
	}{
		{"well under the limit is stored", 100, 0},
		{"over the limit is refused with 552", 4 * limit, 552},
		{"far over the limit is refused with 552", 100 * limit, 552},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := startMailbox(t, WithMaxMessageBytes(limit))
			body := strings.Repeat(strings.Repeat("x", 63)+"\n", tt.bodyBytes/64+1)
			err := sendRaw(m.Addr(), "dev@niomon.test", []string{"big@example.com"}, simpleMessage("big@example.com", "big", body))
			stored := len(m.Messages())
			if tt.wantCode == 0 {
				if err != nil || stored != 1 {
					t.Fatalf("SendMail = %v, %d stored; want accepted and stored", err, stored)
				}
				return
			}
			var te *textproto.Error
			if !errors.As(err, &te) || te.Code != tt.wantCode {
				t.Fatalf("SendMail = %v; want SMTP reply %d", err, tt.wantCode)
			}
			if stored != 0 {
				t.Fatalf("%d messages stored; want the oversized one dropped", stored)
			}
		})
	}
}

func TestMailbox_KeepsOnlyTheNewestMessages(t *testing.T) {
	tests := []struct {
		name string
		max  int
		sent int
	}{
		{"under the bound keeps all", 3, 2},
		{"at the bound keeps all", 3, 3},
		{"over the bound drops the oldest", 3, 7},
		{"bound of one keeps the last", 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := startMailbox(t, WithMaxMessages(tt.max))
			for i := 1; i <= tt.sent; i++ {
				raw := simpleMessage("u@example.com", fmt.Sprintf("message %d", i), "body")
				if err := sendRaw(m.Addr(), "dev@niomon.test", []string{"u@example.com"}, raw); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			got := m.Messages()
			want := min(tt.max, tt.sent)
			if len(got) != want {
				t.Fatalf("Messages() has %d; want %d", len(got), want)
			}
			for i, r := range got { // newest first
				if wantSubj := fmt.Sprintf("message %d", tt.sent-i); r.Subject != wantSubj {
					t.Errorf("Messages()[%d].Subject = %q; want %q", i, r.Subject, wantSubj)
				}
			}
		})
	}
}

func TestMailbox_MessagesReturnsCopies(t *testing.T) {
	m := startMailbox(t)
	if err := sendRaw(m.Addr(), "dev@niomon.test", []string{"u@example.com"}, simpleMessage("u@example.com", "s", "b")); err != nil {
		t.Fatal(err)
	}
	m.Messages()[0].To[0] = "changed@example.com"
	if got := m.Messages()[0].To[0]; got != "u@example.com" {
		t.Fatalf("stored To changed through a returned copy: %q", got)
	}
}

func TestWait_ReturnsWhenAMessageArrives(t *testing.T) {
	m := startMailbox(t)
	type result struct {
		r   Received
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	go func() {
		r, err := m.Wait(ctx, "Alice <ALICE@Example.com>")
		done <- result{r, err}
	}()

	// Mail for someone else does not wake the waiter with the wrong message.
	if err := sendRaw(m.Addr(), "dev@niomon.test", []string{"bob@example.com"}, simpleMessage("bob@example.com", "for bob", "b")); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-done:
		t.Fatalf("Wait returned %+v, %v before mail for alice arrived", res.r, res.err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := sendRaw(m.Addr(), "dev@niomon.test", []string{"alice@example.com"}, simpleMessage("alice@example.com", "for alice", "a")); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil || res.r.Subject != "for alice" {
		t.Fatalf("Wait = %q, %v; want the message for alice", res.r.Subject, res.err)
	}
}

func TestWait_ReturnsEachMessageOnceInArrivalOrder(t *testing.T) {
	m := startMailbox(t)
	for _, s := range []string{"first", "second"} {
		if err := sendRaw(m.Addr(), "dev@niomon.test", []string{"a@example.com"}, simpleMessage("a@example.com", s, s)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"first", "second"} {
		r, err := m.Wait(t.Context(), "a@example.com")
		if err != nil || r.Subject != want {
			t.Fatalf("Wait = %q, %v; want %q", r.Subject, err, want)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if r, err := m.Wait(ctx, "a@example.com"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third Wait = %q, %v; want it to block until the deadline", r.Subject, err)
	}
}

func TestWait_RespectsContext(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func(context.Context) (context.Context, context.CancelFunc)
		wantErr error
	}{
		{"deadline", func(p context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(p, 30*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel while waiting", func(p context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(p)
			time.AfterFunc(30*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"already cancelled", func(p context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(p)
			cancel()
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := startMailbox(t)
			ctx, cancel := tt.ctx(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := m.Wait(ctx, "nobody@example.com")
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Wait = %v; want %v", err, tt.wantErr)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Wait did not notice its context within 5s")
			}
		})
	}
}

func TestWait_ReturnsErrClosedWhenTheMailboxCloses(t *testing.T) {
	m := startMailbox(t)
	done := make(chan error, 1)
	go func() {
		_, err := m.Wait(t.Context(), "a@example.com")
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait = %v; want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after Close")
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close = %v; want nil", err)
	}
}

func TestMailbox_AcceptsAnyAuthPlainCredentials(t *testing.T) {
	m := startMailbox(t)
	host, _, _ := net.SplitHostPort(m.Addr())
	// net/smtp sends PLAIN over plaintext only to localhost / 127.0.0.1.
	auth := smtp.PlainAuth("", "dev", "anything", host)
	if err := smtp.SendMail(m.Addr(), auth, "dev@niomon.test", []string{"a@example.com"}, []byte(crlf(simpleMessage("a@example.com", "authed", "b")))); err != nil {
		t.Fatalf("SendMail with AUTH PLAIN: %v", err)
	}
	if got := m.Messages(); len(got) != 1 || got[0].Subject != "authed" {
		t.Fatalf("Messages() = %+v; want the authenticated message", got)
	}
}
