// Package devmail is the development mailbox behind `niomon dev`: an
// in-process SMTP server on a loopback address that keeps the mail it
// receives in memory and shows it on a local web page, so a developer can sign
// up and sign in with nothing installed.
//
// The mail it receives carries sign-in codes and magic links, which are
// secrets even in development: the mailbox never logs message contents, and
// it only listens on loopback addresses. It accepts any sender, any recipient
// and any AUTH PLAIN credentials, because it delivers nowhere.
package devmail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Defaults for the in-memory store.
const (
	DefaultMaxMessages     = 200     // messages kept; the oldest is dropped first
	DefaultMaxMessageBytes = 1 << 20 // largest message accepted, in bytes
)

const (
	maxRecipients = 100
	ioTimeout     = time.Minute
)

var (
	// ErrNotLoopback is returned by Start for a listen address that is not a
	// loopback address.
	ErrNotLoopback = errors.New("devmail: listen address is not a loopback address")
	// ErrClosed is returned by Wait once the mailbox is closed.
	ErrClosed = errors.New("devmail: mailbox closed")
)

// Received is one message as the mailbox shows it. All strings are valid
// UTF-8; Text and HTML have "\n" line endings and are decoded from their
// transfer encoding (quoted-printable, base64) and charset.
type Received struct {
	ID      string    `json:"id"`
	From    string    `json:"from"`    // the From header (`Name <addr>`), else the envelope sender
	To      []string  `json:"to"`      // the envelope recipients (RCPT TO)
	Subject string    `json:"subject"` // RFC 2047 words decoded
	Date    time.Time `json:"date"`    // the Date header, else the time of arrival
	Text    string    `json:"text"`    // the first text/plain part that is not an attachment
	HTML    string    `json:"html"`    // the first text/html part that is not an attachment
	Size    int       `json:"size"`    // bytes received
}

// Option configures Start.
type Option func(*options)

type options struct {
	maxMessages     int
	maxMessageBytes int64
}

// WithMaxMessages sets how many messages the mailbox keeps (default
// DefaultMaxMessages); a new message past it drops the oldest. n < 1 is
// refused by Start.
func WithMaxMessages(n int) Option { return func(o *options) { o.maxMessages = n } }

// WithMaxMessageBytes sets the largest message accepted (default
// DefaultMaxMessageBytes). A larger message is refused by the SMTP server
// with 552 and not stored. n < 1 is refused by Start.
func WithMaxMessageBytes(n int64) Option { return func(o *options) { o.maxMessageBytes = n } }

// Mailbox is a running development mailbox. Its methods are safe for
// concurrent use.
type Mailbox struct {
	srv         *smtp.Server
	ln          net.Listener
	maxMessages int
	served      chan struct{} // closed when Serve has returned
	done        chan struct{} // closed by Close

	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	msgs    []*stored     // oldest first, at most maxMessages
	nextID  uint64        // last ID handed out
	changed chan struct{} // closed (and replaced) when a message arrives or the mailbox closes
	closed  bool
}

type stored struct {
	r       Received
	claimed map[string]bool // normalised recipients for which Wait has returned this message
}

// Start listens on addr (for example "127.0.0.1:0"; the address must be a
// loopback IP or "localhost") and serves SMTP there until ctx ends or Close
// is called. No authentication is required; AUTH PLAIN with any credentials
// is accepted so that a sender configured with a username also works.
func Start(ctx context.Context, addr string, opts ...Option) (*Mailbox, error) {
	o := options{maxMessages: DefaultMaxMessages, maxMessageBytes: DefaultMaxMessageBytes}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxMessages < 1 {
		return nil, fmt.Errorf("devmail: max messages must be at least 1, not %d", o.maxMessages)
	}
	if o.maxMessageBytes < 1 {
		return nil, fmt.Errorf("devmail: max message bytes must be at least 1, not %d", o.maxMessageBytes)
	}
	if err := checkLoopbackAddr(addr); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("devmail: listen: %w", err)
	}
	// "localhost" could resolve to something else: check what was bound.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("%w: %q bound %s", ErrNotLoopback, addr, ln.Addr())
	}

	m := &Mailbox{
		ln:          ln,
		maxMessages: o.maxMessages,
		served:      make(chan struct{}),
		done:        make(chan struct{}),
		changed:     make(chan struct{}),
	}
	s := smtp.NewServer(backend{m})
	s.Domain = "localhost"
	s.MaxMessageBytes = o.maxMessageBytes
	s.MaxRecipients = maxRecipients
	s.ReadTimeout = ioTimeout
	s.WriteTimeout = ioTimeout
	s.AllowInsecureAuth = true // loopback only
	s.EnableSMTPUTF8 = true
	// go-smtp logs connection errors; nothing it logs is needed here, and
	// the mailbox keeps to "log nothing about mail".
	s.ErrorLog = log.New(io.Discard, "", 0)
	m.srv = s

	go func() {
		defer close(m.served)
		_ = s.Serve(ln)
	}()
	go func() {
		select {
		case <-ctx.Done():
			m.Close()
		case <-m.done:
		}
	}()
	return m, nil
}

// checkLoopbackAddr refuses any listen address whose host part is not a
// loopback IP or "localhost". An empty host means every interface.
func checkLoopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("devmail: listen address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	if host == "" {
		return fmt.Errorf("%w: %q listens on every interface; use 127.0.0.1:PORT", ErrNotLoopback, addr)
	}
	return fmt.Errorf("%w: %q; use 127.0.0.1:PORT", ErrNotLoopback, addr)
}

// Addr returns the address the SMTP server is bound to, such as
// "127.0.0.1:40123".
func (m *Mailbox) Addr() string { return m.ln.Addr().String() }

// Messages returns the stored messages, newest first.
func (m *Mailbox) Messages() []Received {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Received, 0, len(m.msgs))
	for i := len(m.msgs) - 1; i >= 0; i-- {
		out = append(out, m.msgs[i].r.clone())
	}
	return out
}

// message returns the stored message with the given ID.
func (m *Mailbox) message(id string) (Received, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.msgs {
		if s.r.ID == id {
			return s.r.clone(), true
		}
	}
	return Received{}, false
}

// Wait returns the oldest stored message addressed to `to` (an envelope
// recipient, compared without regard to case) that no earlier Wait for that
// recipient has returned, blocking until one arrives. So a flow that sends
// mail and then waits gets that mail even if it arrived before Wait was
// called, and a second sign-in gets the second mail, not the first again.
// It returns ctx's error when ctx ends first and ErrClosed once the mailbox
// is closed.
func (m *Mailbox) Wait(ctx context.Context, to string) (Received, error) {
	want := normalizeAddr(to)
	if want == "" {
		return Received{}, fmt.Errorf("devmail: Wait: empty recipient")
	}
	for {
		m.mu.Lock()
		for _, s := range m.msgs {
			if s.claimed[want] || !slices.ContainsFunc(s.r.To, func(t string) bool { return normalizeAddr(t) == want }) {
				continue
			}
			if s.claimed == nil {
				s.claimed = make(map[string]bool)
			}
			s.claimed[want] = true
			r := s.r.clone()
			m.mu.Unlock()
			return r, nil
		}
		if m.closed {
			m.mu.Unlock()
			return Received{}, ErrClosed
		}
		changed := m.changed
		m.mu.Unlock()

		select {
		case <-ctx.Done():
			return Received{}, ctx.Err()
		case <-changed:
		}
	}
}

// normalizeAddr reduces "Name <a@B.example>" or "<a@b.example>" to
// "a@b.example" for comparison.
func normalizeAddr(s string) string {
	s = strings.TrimSpace(s)
	if a, err := mail.ParseAddress(s); err == nil {
		s = a.Address
	}
	return strings.ToLower(strings.Trim(s, "<>"))
}

// Close stops the SMTP server and wakes every Wait. The stored messages stay
// readable through Messages and Handler. Close is idempotent.
func (m *Mailbox) Close() error {
	m.closeOnce.Do(func() {
		close(m.done)
		err := m.srv.Close()
		// Also close the listener ourselves, in case Serve has not yet
		// registered it with the server.
		m.ln.Close()
		<-m.served
		if errors.Is(err, net.ErrClosed) || errors.Is(err, smtp.ErrServerClosed) {
			err = nil
		}
		m.closeErr = err

		// Only now wake the waiters: once Wait says ErrClosed, the port
		// no longer accepts mail.
		m.mu.Lock()
		m.closed = true
		close(m.changed)
		m.mu.Unlock()
	})
	return m.closeErr
}

// deliver parses and stores one message, dropping the oldest past the bound.
func (m *Mailbox) deliver(envFrom string, rcpts []string, raw []byte) {
	p := parseMessage(raw)
	r := Received{
		From:    p.From,
		To:      slices.Clone(rcpts),
		Subject: p.Subject,
		Date:    p.Date,
		Text:    p.Text,
		HTML:    p.HTML,
		Size:    len(raw),
	}
	if r.From == "" {
		r.From = cleanString(envFrom)
	}
	if r.Date.IsZero() {
		r.Date = time.Now()
	}
	for i, t := range r.To {
		r.To[i] = cleanString(t)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.nextID++
	r.ID = strconv.FormatUint(m.nextID, 10)
	m.msgs = append(m.msgs, &stored{r: r})
	if excess := len(m.msgs) - m.maxMessages; excess > 0 {
		m.msgs = slices.Delete(m.msgs, 0, excess)
	}
	close(m.changed)
	m.changed = make(chan struct{})
}

func (r Received) clone() Received {
	r.To = slices.Clone(r.To)
	return r
}

// backend and session implement go-smtp's server side.
type backend struct{ m *Mailbox }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{m: b.m}, nil }

type session struct {
	m     *Mailbox
	from  string
	rcpts []string
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error { return nil }), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	// r is bounded by the server's MaxMessageBytes: past it, reading fails
	// with smtp.ErrDataTooLarge, which goes back to the client as 552 and
	// the message is not stored.
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.deliver(s.from, s.rcpts, raw)
	return nil
}

func (s *session) Reset() {
	s.from = ""
	s.rcpts = nil
}

func (s *session) Logout() error { return nil }
