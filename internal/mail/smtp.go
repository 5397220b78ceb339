package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes of SMTPConfig.TLS.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, which is required (default; port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no encryption: only for a server on a loopback address (port 25)
)

// DefaultTimeout bounds one connection (dial, handshake and every command)
// when SMTPConfig.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// SMTPConfig configures an SMTP sender.
type SMTPConfig struct {
	Host     string // host name or IP of the mail server, without a port
	Port     int    // 0: 587 for "starttls", 465 for "tls", 25 for "none"
	Username string // SMTP AUTH (PLAIN or LOGIN); empty: no authentication
	Password string
	From     string        // the sender address: "Niomon <no-reply@example.com>"
	TLS      string        // "starttls" (default), "tls" or "none"
	Timeout  time.Duration // 0: DefaultTimeout

	rootCAs *x509.CertPool // tests only: trust anchors instead of the system's
}

// ConfigError is returned by NewSMTP; Field names the setting at fault.
// Reasons never contain the password.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "mail: SMTPConfig." + e.Field + ": " + e.Reason }

// SMTP sends each message over its own connection to one SMTP server.
// It is safe for concurrent use.
type SMTP struct {
	host     string
	port     int
	addr     string // host:port, for errors
	mode     string
	from     *mail.Address
	msgIDDom string // domain part of Message-IDs
	user     string
	pass     string
	timeout  time.Duration
	tls      *tls.Config
	encoding gomail.Encoding // body transfer encoding; tests switch it to base64
}

var _ Sender = (*SMTP)(nil)

// NewSMTP checks cfg and returns a sender. It does not connect.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	host := strings.TrimSpace(cfg.Host)
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	switch {
	case host == "":
		return nil, &ConfigError{"Host", "is empty"}
	case strings.ContainsAny(host, "/ \t\r\n") || strings.HasPrefix(strings.ToLower(host), "unix:"):
		return nil, &ConfigError{"Host", fmt.Sprintf("%q is not a host name or IP address", cfg.Host)}
	case strings.Contains(host, ":") && net.ParseIP(host) == nil:
		return nil, &ConfigError{"Host", fmt.Sprintf("%q must not include a port; set Port", cfg.Host)}
	}

	mode := strings.ToLower(strings.TrimSpace(cfg.TLS))
	defaultPort := 0
	switch mode {
	case "", TLSStartTLS:
		mode, defaultPort = TLSStartTLS, 587
	case TLSImplicit:
		defaultPort = 465
	case TLSNone:
		if !isLoopbackHost(host) {
			return nil, &ConfigError{"TLS", fmt.Sprintf("%q would send sign-in codes unencrypted; it is allowed only when Host is a loopback address (localhost, 127.0.0.1, ::1), not %q", TLSNone, cfg.Host)}
		}
		defaultPort = 25
	default:
		return nil, &ConfigError{"TLS", fmt.Sprintf("unknown mode %q; want %q, %q or %q", cfg.TLS, TLSStartTLS, TLSImplicit, TLSNone)}
	}

	port := cfg.Port
	switch {
	case port == 0:
		port = defaultPort
	case port < 0 || port > 65535:
		return nil, &ConfigError{"Port", fmt.Sprintf("%d is not a TCP port", cfg.Port)}
	}

	if cfg.From == "" {
		return nil, &ConfigError{"From", "is empty"}
	}
	from, err := parseAddress(cfg.From)
	if err != nil {
		return nil, &ConfigError{"From", fmt.Sprintf("%q: %v", cfg.From, err)}
	}

	switch {
	case cfg.Username == "" && cfg.Password != "":
		return nil, &ConfigError{"Username", "is empty but Password is set"}
	case cfg.Username != "" && cfg.Password == "":
		return nil, &ConfigError{"Password", "is empty but Username is set"}
	}

	timeout := cfg.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		return nil, &ConfigError{"Timeout", fmt.Sprintf("%v is negative", cfg.Timeout)}
	}

	return &SMTP{
		host:     host,
		port:     port,
		addr:     net.JoinHostPort(host, strconv.Itoa(port)),
		mode:     mode,
		from:     from,
		msgIDDom: from.Address[strings.LastIndexByte(from.Address, '@')+1:],
		user:     cfg.Username,
		pass:     cfg.Password,
		timeout:  timeout,
		tls: &tls.Config{
			ServerName: host,
			MinVersion: tls.VersionTLS12,
			RootCAs:    cfg.rootCAs,
		},
		encoding: gomail.EncodingQP,
	}, nil
}

// isLoopbackHost reports whether host is "localhost" or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SendError is returned when the SMTP exchange fails. Its message says which
// step failed and the server's reply code, but never the server's reply text
// once the message is being transferred (a server may quote the message
// back) and never the message itself.
type SendError struct {
	Server    string // host:port
	Step      string // what failed, in go-mail's words ("connect", "sending SMTP RCPT TO command", ...)
	Code      int    // SMTP reply code, 0 if none
	Enhanced  string // enhanced status code ("5.7.1"), if the server sent one
	Temporary bool   // a 4xx reply: trying again later may work
	err       error  // connection-stage cause (network, TLS, AUTH) or ctx's error; nil once the message was being sent
}

func (e *SendError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mail: smtp %s: %s failed", e.Server, e.Step)
	if e.Code != 0 {
		fmt.Fprintf(&b, ": server replied %d", e.Code)
		if e.Enhanced != "" {
			b.WriteString(" " + e.Enhanced)
		}
	}
	if e.err != nil {
		b.WriteString(": " + e.err.Error())
	}
	return b.String()
}

// Unwrap gives the cause of a failure to connect, such as a network, TLS
// or authentication error, or the context's error.
func (e *SendError) Unwrap() error { return e.err }

// Send delivers m, over a new connection. ctx bounds the whole exchange:
// when it ends, the connection is closed and Send returns ctx's error.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := m.validate()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return &SendError{Server: s.addr, Step: "connect", err: err}
	}

	msg := gomail.NewMsg(gomail.WithEncoding(s.encoding), gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(to)
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(rand.Text() + "@" + s.msgIDDom)
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.Text != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	default:
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	}

	client, stop, err := s.client(ctx)
	if err != nil {
		return err
	}
	defer stop()

	err = client.DialAndSendWithContext(ctx, msg)
	if err == nil || msg.IsDelivered() {
		// Accepted by the server: a failure after that (QUIT) must not make
		// the caller send the code a second time.
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return &SendError{Server: s.addr, Step: "send", err: cerr}
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		// The message was being transferred: keep the step and the codes,
		// drop the server's text.
		return &SendError{
			Server:    s.addr,
			Step:      se.Reason.String(),
			Code:      se.ErrorCode(),
			Enhanced:  se.EnhancedStatusCode(),
			Temporary: se.IsTemp(),
		}
	}
	// Connecting, greeting, STARTTLS or AUTH failed: nothing of the message
	// has been written yet, and the cause is what an operator needs.
	return &SendError{Server: s.addr, Step: "connect", err: err}
}

// client makes a go-mail client for one exchange, with our own dialer,
// so that ending ctx closes the connection at any step (go-mail only uses
// the context while dialing), and so that implicit TLS uses our
// tls.Config. The caller calls stop when done.
func (s *SMTP) client(ctx context.Context) (*gomail.Client, func(), error) {
	var mu sync.Mutex
	var stops []func() bool
	stop := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, f := range stops {
			f()
		}
	}
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		if s.mode == TLSImplicit {
			tc := tls.Client(conn, s.tls.Clone())
			if err := tc.HandshakeContext(dctx); err != nil {
				conn.Close()
				return nil, err
			}
			conn = tc
		}
		mu.Lock()
		stops = append(stops, context.AfterFunc(ctx, func() { conn.Close() }))
		mu.Unlock()
		return conn, nil
	}

	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithDialContextFunc(dial),
		gomail.WithTLSConfig(s.tls.Clone()),
	}
	switch s.mode {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.user != "" {
		opts = append(opts, gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
		if s.mode == TLSNone {
			// Loopback only (NewSMTP), where plaintext AUTH is acceptable.
			opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc))
		} else {
			opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin))
		}
	}
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return nil, stop, &SendError{Server: s.addr, Step: "configure", err: err}
	}
	return client, stop, nil
}

// Check connects to the relay as Send does (EHLO, STARTTLS when the mode
// needs it, AUTH when a username is set) and says goodbye without sending
// anything: a wrong port, TLS mode or password shows at start, not at a
// user's sign-in.
func (s *SMTP) Check(ctx context.Context) error {
	client, stop, err := s.client(ctx)
	if err != nil {
		return err
	}
	defer stop()
	if err := client.DialWithContext(ctx); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return &SendError{Server: s.addr, Step: "connect", err: err}
	}
	return client.Close()
}
