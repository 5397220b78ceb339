package mail

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"
)

// DefaultProduct names the product in mail when the caller gives no name.
const DefaultProduct = "Niomon"

// LoginCodeSubject is the subject of the sign-in mail. It deliberately
// leaves the code out: subjects show in lock-screen notifications, mailbox
// lists and mail server logs.
const LoginCodeSubject = "Your sign-in code"

// LoginCode renders the passwordless sign-in mail: the one-time code and,
// when linkURL is an absolute http(s) URL, the magic link. Any other link
// (javascript:, relative, malformed) is left out of both parts. expires is
// rounded down to whole minutes (or seconds under a minute) and omitted when
// under a second. product names the service ("Niomon" when empty).
//
// The result is not validated here: Send refuses a bad To.
func LoginCode(to, code, linkURL string, expires time.Duration, product string) Message {
	d := loginCodeData{
		Product: oneLine(product),
		Code:    oneLine(code),
		Link:    safeLink(linkURL),
		Expiry:  humanDuration(expires),
	}
	if d.Product == "" {
		d.Product = DefaultProduct
	}
	return Message{
		To:      to,
		Subject: LoginCodeSubject,
		Text:    d.text(),
		HTML:    d.html(),
	}
}

type loginCodeData struct {
	Product string
	Code    string
	Link    string // empty: no link
	Expiry  string // empty: say nothing about expiry
}

func (d loginCodeData) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Your sign-in code for %s is:\n\n    %s\n\n", d.Product, d.Code)
	if d.Link != "" {
		fmt.Fprintf(&b, "Or sign in by opening this link:\n\n%s\n\n", d.Link)
	}
	if d.Expiry != "" {
		if d.Link != "" {
			fmt.Fprintf(&b, "The code and the link expire in %s.\n", d.Expiry)
		} else {
			fmt.Fprintf(&b, "The code expires in %s.\n", d.Expiry)
		}
	}
	fmt.Fprintf(&b, "Never share this code: %s will never ask you for it.\n", d.Product)
	b.WriteString("If you didn't try to sign in, you can ignore this mail.\n")
	return b.String()
}

func (d loginCodeData) html() string {
	var b strings.Builder
	if err := loginCodeHTML.Execute(&b, d); err != nil {
		// Cannot happen with this fixed template and string data (the tests
		// render it); fall back to a text-only mail rather than panic.
		return ""
	}
	return b.String()
}

var loginCodeHTML = template.Must(template.New("login-code").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Your sign-in code</title></head>
<body style="margin:0;padding:24px;font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:16px;line-height:1.5;color:#111111;">
<p>Your sign-in code for {{.Product}} is:</p>
<p style="font-family:ui-monospace,Menlo,Consolas,monospace;font-size:28px;font-weight:bold;letter-spacing:4px;margin:16px 0;">{{.Code}}</p>
{{- if .Link}}
<p><a href="{{.Link}}" style="display:inline-block;padding:10px 18px;background:#111111;color:#ffffff;text-decoration:none;border-radius:6px;">Sign in to {{.Product}}</a></p>
<p style="font-size:13px;color:#555555;">Or paste this link into your browser:<br><span style="word-break:break-all;">{{.Link}}</span></p>
{{- end}}
{{- if .Expiry}}
<p style="font-size:13px;color:#555555;">{{if .Link}}The code and the link expire{{else}}The code expires{{end}} in {{.Expiry}}.</p>
{{- end}}
<p style="font-size:13px;color:#555555;">Never share this code: {{.Product}} will never ask you for it. If you didn't try to sign in, you can ignore this mail.</p>
</body>
</html>
`))

// safeLink returns u if it is an absolute http or https URL with a host and
// no line breaks, and "" otherwise.
func safeLink(u string) string {
	if u == "" || strings.ContainsAny(u, "\r\n\t ") {
		return ""
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || (p.Scheme != "https" && p.Scheme != "http") {
		return ""
	}
	return u
}

// oneLine keeps template inputs from breaking the layout of the text part.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// humanDuration says d in words, rounded down: "10 minutes", "1 hour",
// "1 hour 30 minutes", "45 seconds". Rounding down never promises the
// reader more time than they have.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return ""
	case d < time.Minute:
		return plural(int(d/time.Second), "second")
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return plural(m, "minute")
	case m == 0:
		return plural(h, "hour")
	default:
		return plural(h, "hour") + " " + plural(m, "minute")
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
