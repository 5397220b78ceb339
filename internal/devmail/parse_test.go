package devmail

import (
	"bytes"
	"encoding/base64"
	"mime/quotedprintable"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseMessage_HandlesMalformedInput(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		wantText string
		wantHTML string
	}{
		{"not a message at all is shown as text", "garbage without a header\r\n", "garbage without a header\n", ""},
		{"invalid UTF-8 is replaced", "Subject: x\r\n\r\nab\xffcd", "ab\uFFFDcd", ""},
		{"broken base64 keeps what decoded", "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=!!!", "hello", ""},
		{"a bad quoted-printable escape passes through", "Content-Transfer-Encoding: quoted-printable\r\n\r\nok=ZZ=3D", "ok=ZZ=", ""},
		{"multipart without a boundary shows nothing", "Content-Type: multipart/alternative\r\n\r\n--x\r\n\r\nhi\r\n--x--", "", ""},
		{"multipart never closed keeps the parts it read", "Content-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<b>hi</b>\r\n--x\r\n", "", "<b>hi</b>"},
		{"unparseable Content-Type falls back to text/plain", "Content-Type: ;;;\r\n\r\nbody", "body", ""},
		{"non-text parts are ignored", "Content-Type: image/png\r\n\r\n\x89PNG", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parseMessage([]byte(tt.raw))
			if p.Text != tt.wantText || p.HTML != tt.wantHTML {
				t.Fatalf("Text, HTML = %q, %q; want %q, %q", p.Text, p.HTML, tt.wantText, tt.wantHTML)
			}
		})
	}
}

func TestParseMessage_StopsAtTheNestingLimit(t *testing.T) {
	// maxMIMEDepth+2 levels of multipart, the text at the bottom.
	raw := "Content-Type: multipart/mixed; boundary=b0\r\n\r\n"
	depth := maxMIMEDepth + 2
	for i := 1; i < depth; i++ {
		raw += "--b" + string(rune('0'+i-1)) + "\r\nContent-Type: multipart/mixed; boundary=b" + string(rune('0'+i)) + "\r\n\r\n"
	}
	raw += "--b" + string(rune('0'+depth-1)) + "\r\nContent-Type: text/plain\r\n\r\ndeep\r\n"
	if p := parseMessage([]byte(raw)); p.Text != "" {
		t.Fatalf("Text = %q; want nothing past the nesting limit", p.Text)
	}
}

// buildAlternative writes a multipart/alternative message whose text part is
// s in quoted-printable and whose HTML part is s in base64, wrapped at 76.
// "=_" cannot occur in either encoding, so it makes a safe boundary.
func buildAlternative(s string) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nSubject: fuzz\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/alternative; boundary=\"=_fz\"\r\n\r\n")
	b.WriteString("--=_fz\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(s))
	qp.Close()
	b.WriteString("\r\n--=_fz\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(s))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--=_fz--\r\n")
	return b.Bytes()
}

func TestParseMessage_DecodesWhatTheStandardEncodersWrite(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"short", "123456"},
		{"long line with a link", "https://auth.niomon.test/login/magic?token=" + strings.Repeat("aB3=", 40)},
		{"several lines with trailing spaces", "one  \ntwo\t\n\nthree"},
		{"non-ASCII", "Café — ✔ 日本語"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parseMessage(buildAlternative(tt.body))
			if p.Text != tt.body || p.HTML != tt.body {
				t.Fatalf("Text, HTML = %q, %q; want %q for both", p.Text, p.HTML, tt.body)
			}
		})
	}
}

// FuzzParseMessage: any bytes parse without panicking into displayable,
// bounded strings.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(hostileMessage))
	f.Add(buildAlternative("Code: 123456\nhttps://auth.niomon.test/x?t=1"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n--b--\r\n--a--\r\n"))
	f.Add([]byte("Subject: =?utf-8?b?w6k=?=\r\nFrom: =?iso-8859-1?q?J=F6rg?= <j@example.com>\r\nContent-Type: text/plain; charset=latin1\r\n\r\n\xe9"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p := parseMessage(raw)
		for name, s := range map[string]string{"From": p.From, "Subject": p.Subject, "Text": p.Text, "HTML": p.HTML} {
			if !utf8.ValidString(s) {
				t.Errorf("%s is not valid UTF-8: %q", name, s)
			}
		}
		if strings.ContainsAny(p.Subject, "\r\n") || strings.ContainsAny(p.From, "\r\n") {
			t.Errorf("header value spans lines: From %q, Subject %q", p.From, p.Subject)
		}
		if strings.Contains(p.Text, "\r\n") || strings.Contains(p.HTML, "\r\n") {
			t.Errorf("body keeps CRLF line endings")
		}
		// Decoding never grows the data by more than the worst case:
		// one invalid byte becomes U+FFFD (3 bytes), one Latin-1 byte 2.
		if limit := 3*len(raw) + 3; len(p.Text) > limit || len(p.HTML) > limit {
			t.Errorf("decoded %d/%d bytes from %d", len(p.Text), len(p.HTML), len(raw))
		}
	})
}

// FuzzParseMessageRoundTrip: what the standard library's quoted-printable
// and base64 encoders write, the mailbox decodes back exactly.
func FuzzParseMessageRoundTrip(f *testing.F) {
	f.Add("123456")
	f.Add("Café — ✔\nsecond line  \n")
	f.Add("=3D=\n. leading dot\n.\n")
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || strings.ContainsRune(s, '\r') {
			t.Skip("the mailbox shows valid UTF-8 with \\n line endings")
		}
		p := parseMessage(buildAlternative(s))
		if p.Text != s {
			t.Errorf("quoted-printable round trip: got %q, want %q", p.Text, s)
		}
		if p.HTML != s {
			t.Errorf("base64 round trip: got %q, want %q", p.HTML, s)
		}
	})
}
