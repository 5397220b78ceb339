package devmail

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on the MIME walk. A received message is untrusted input (anything on
// the machine can connect to the loopback port), so the parser bounds how deep
// and how wide it goes; past a limit it stops and keeps what it has.
const (
	maxMIMEDepth = 8   // nested multipart levels
	maxMIMEParts = 100 // parts visited in one message
)

// parsed is what the mailbox shows of one message. Every string is valid UTF-8
// with "\n" line endings.
type parsed struct {
	From    string
	Subject string
	Date    time.Time // zero when the message has no valid Date header
	Text    string
	HTML    string
}

var wordDecoder = new(mime.WordDecoder) // knows UTF-8, US-ASCII and ISO-8859-1

// parseMessage extracts the headers and the first text/plain and text/html
// parts of a raw RFC 5322 message. It never fails: a message it cannot parse
// is shown whole as text, so a developer still sees what arrived.
func parseMessage(raw []byte) parsed {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return parsed{Text: cleanText(raw)}
	}
	p := parsed{
		From:    decodeAddress(msg.Header.Get("From")),
		Subject: cleanString(decodeHeader(msg.Header.Get("Subject"))),
	}
	if d, err := msg.Header.Date(); err == nil {
		p.Date = d
	}
	w := walker{p: &p}
	w.walk(textproto.MIMEHeader(msg.Header), msg.Body, 0)
	return p
}

type walker struct {
	p     *parsed
	parts int
}

func (w *walker) walk(h textproto.MIMEHeader, body io.Reader, depth int) {
	if w.parts >= maxMIMEParts {
		return
	}
	w.parts++

	mediaType, params := "text/plain", map[string]string(nil) // RFC 2045 §5.2 default
	if ct := h.Get("Content-Type"); ct != "" {
		// An unparseable Content-Type keeps the default.
		if mt, ps, _ := mime.ParseMediaType(ct); mt != "" {
			mediaType, params = mt, ps
		}
	}

	if strings.HasPrefix(mediaType, "multipart/") {
		boundary := params["boundary"]
		if boundary == "" || depth >= maxMIMEDepth {
			return
		}
		mr := multipart.NewReader(body, boundary)
		for w.parts < maxMIMEParts {
			// NextRawPart: do the transfer decoding ourselves, the same way
			// for the top level and for parts.
			part, err := mr.NextRawPart()
			if err != nil {
				return
			}
			w.walk(part.Header, part, depth+1)
		}
		return
	}

	var dst *string
	switch mediaType {
	case "text/plain":
		dst = &w.p.Text
	case "text/html":
		dst = &w.p.HTML
	default:
		return
	}
	if *dst != "" {
		return // the first part of each kind wins
	}
	if disp, _, _ := mime.ParseMediaType(h.Get("Content-Disposition")); disp == "attachment" {
		return
	}
	data := decodeTransfer(h.Get("Content-Transfer-Encoding"), body)
	*dst = cleanText(toUTF8(data, params["charset"]))
}

// decodeTransfer undoes a Content-Transfer-Encoding. On malformed input it
// returns what decoded before the error.
func decodeTransfer(cte string, r io.Reader) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		data, _ := io.ReadAll(quotedprintable.NewReader(r))
		return data
	case "base64":
		enc, _ := io.ReadAll(r)
		enc = bytes.Map(func(r rune) rune {
			switch r {
			case ' ', '\t', '\r', '\n':
				return -1
			}
			return r
		}, enc)
		dst := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
		n, _ := base64.StdEncoding.Decode(dst, enc)
		return dst[:n]
	default: // 7bit, 8bit, binary, absent or unknown: take the bytes as they are
		data, _ := io.ReadAll(r)
		return data
	}
}

// toUTF8 converts a body in the declared charset. UTF-8 and US-ASCII pass
// through; ISO-8859-1 (and windows-1252, approximated by it) is mapped byte
// for byte; anything else is passed through and invalid bytes replaced later.
func toUTF8(data []byte, charset string) []byte {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "iso_8859-1", "windows-1252", "cp1252":
		if utf8.Valid(data) && isASCII(data) {
			return data
		}
		out := make([]byte, 0, len(data)*2)
		for _, b := range data {
			out = utf8.AppendRune(out, rune(b))
		}
		return out
	default:
		return data
	}
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// decodeHeader decodes RFC 2047 encoded words; a header it cannot decode is
// shown as it was sent.
func decodeHeader(v string) string {
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

// decodeAddress renders a From header as `Name <addr>` (or the address
// alone), decoding encoded words in the name.
func decodeAddress(v string) string {
	if v == "" {
		return ""
	}
	ap := mail.AddressParser{WordDecoder: wordDecoder}
	list, err := ap.ParseList(v)
	if err != nil || len(list) == 0 {
		return cleanString(decodeHeader(v))
	}
	out := make([]string, len(list))
	for i, a := range list {
		if a.Name != "" {
			out[i] = fmt.Sprintf("%s <%s>", a.Name, a.Address)
		} else {
			out[i] = a.Address
		}
	}
	return cleanString(strings.Join(out, ", "))
}

// cleanText makes a body displayable: valid UTF-8, "\n" line endings
// (CRLF and a lone CR each end a line: "\r\r\n" is two).
func cleanText(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// cleanString makes a header value displayable on one line.
func cleanString(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}
