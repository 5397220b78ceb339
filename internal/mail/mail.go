// Package mail sends Niomon's mail: the Sender interface, an SMTP sender
// built on github.com/wneessen/go-mail, and the templates of the mails the
// server sends, so that no other package builds mail text.
//
// Bodies carry one-time sign-in codes and magic links, which are secrets:
// nothing here logs a message, and no error returned by this package contains
// a body (see SendError).
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// Message is one mail to one recipient.
type Message struct {
	To      string // one address: "user@example.com" or "Name <user@example.com>"
	Subject string // one line; must not contain CR, LF or other control characters
	Text    string // the text/plain part
	HTML    string // the text/html part; with Text, sent as multipart/alternative
}

// Sender sends mail. Send returns nil only once the mail server has accepted
// the message.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Named limits on what a Message may hold in its headers.
const (
	maxAddressBytes = 254 // RFC 5321 §4.5.3.1.3: the longest forward-path is 256 octets with the brackets
	maxHeaderBytes  = 998 // RFC 5322 §2.1.1: the longest line
)

// ErrInvalidMessage is wrapped by every error that refuses a Message before
// anything is sent. Its details name the field, never its value.
var ErrInvalidMessage = errors.New("mail: invalid message")

// validate checks m and returns its parsed recipient.
func (m Message) validate() (*mail.Address, error) {
	to, err := parseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("%w: To: %v", ErrInvalidMessage, err)
	}
	if err := checkHeaderText(m.Subject); err != nil {
		return nil, fmt.Errorf("%w: Subject: %v", ErrInvalidMessage, err)
	}
	if m.Text == "" && m.HTML == "" {
		return nil, fmt.Errorf("%w: both Text and HTML are empty", ErrInvalidMessage)
	}
	if !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) {
		return nil, fmt.Errorf("%w: body is not valid UTF-8", ErrInvalidMessage)
	}
	return to, nil
}

// parseAddress accepts exactly one RFC 5322 address. It refuses control
// characters outright, before parsing, so that nothing resembling a header
// break reaches the parser or go-mail. Its errors do not repeat the input.
func parseAddress(s string) (*mail.Address, error) {
	if s == "" {
		return nil, errors.New("empty address")
	}
	if len(s) > maxHeaderBytes {
		return nil, fmt.Errorf("longer than %d bytes", maxHeaderBytes)
	}
	if err := checkHeaderText(s); err != nil {
		return nil, err
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, errors.New("not a single valid address")
	}
	if len(a.Address) > maxAddressBytes {
		return nil, fmt.Errorf("address longer than %d bytes", maxAddressBytes)
	}
	if i := strings.LastIndexByte(a.Address, '@'); i <= 0 || i == len(a.Address)-1 {
		return nil, errors.New("not a single valid address")
	}
	return a, nil
}

// checkHeaderText refuses what could end a header line or confuse one:
// invalid UTF-8, C0 and C1 controls (CR and LF among them), DEL, and the
// Unicode line and paragraph separators; and lines over the RFC 5322 limit.
func checkHeaderText(s string) error {
	if len(s) > maxHeaderBytes {
		return fmt.Errorf("longer than %d bytes", maxHeaderBytes)
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n':
			return errors.New("contains a line break (CR or LF)")
		case r < 0x20 || (r >= 0x7f && r < 0xa0) || r == '\u2028' || r == '\u2029':
			return fmt.Errorf("contains control character %U", r)
		}
	}
	return nil
}
