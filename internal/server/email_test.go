package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/server"
	"github.com/niomon/niomon/internal/sqldb"
)

func wrongCode(right string) string {
	if right == "000000" {
		return "000001"
	}
	return "000000"
}

func TestEmailCode_Abuse(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"guessing a flow's code stops at five attempts, and then the right code is refused too", func(t *testing.T, e *env) {
			ctx := context.Background()
			c := e.client()
			st, err := c.EmailStart(ctx, "guess@example.com")
			if err != nil {
				t.Fatal(err)
			}
			code, _ := e.mail("guess@example.com")
			for i := range 5 {
				if _, err := c.EmailVerify(ctx, st.FlowID, wrongCode(code), true); errCode(err) != server.CodeInvalidCode {
					t.Fatalf("wrong code %d: got %v, want %s", i+1, err, server.CodeInvalidCode)
				}
			}
			if _, err := c.EmailVerify(ctx, st.FlowID, code, true); errCode(err) != server.CodeInvalidCode {
				t.Fatalf("the right code after five wrong ones: got %v, want %s", err, server.CodeInvalidCode)
			}
		}},
		{"parallel flows for one address do not add guesses: ten attempts in all, then rate_limited", func(t *testing.T, e *env) {
			ctx := context.Background()
			addr := "parallel@example.com"
			var flows []string
			var codes []string
			for range 5 {
				st, err := e.client().EmailStart(ctx, addr)
				if err != nil {
					t.Fatal(err)
				}
				flows = append(flows, st.FlowID)
				code, _ := e.mail(addr)
				codes = append(codes, code)
			}
			var mu sync.Mutex
			tally := map[string]int{}
			var wg sync.WaitGroup
			for i := range 25 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := e.client().EmailVerify(ctx, flows[i%5], wrongCode(codes[i%5]), true)
					mu.Lock()
					tally[errCode(err)]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if tally[server.CodeInvalidCode] != 10 || tally[server.CodeRateLimited] != 15 {
				t.Fatalf("25 concurrent wrong codes over 5 flows: got %v, want 10 %s and 15 %s", tally, server.CodeInvalidCode, server.CodeRateLimited)
			}
			// The limit holds for a right code too, on a flow that has
			// attempts left.
			if _, err := e.client().EmailVerify(ctx, flows[4], codes[4], true); errCode(err) != server.CodeRateLimited {
				t.Fatalf("a right code past the address's limit: got %v, want %s", err, server.CodeRateLimited)
			}
		}},
		{"email bombing: a sixth mail to one address within the hour is refused and not sent", func(t *testing.T, e *env) {
			ctx := context.Background()
			c := e.client()
			for i := range 5 {
				if _, err := c.EmailStart(ctx, "bomb@example.com"); err != nil {
					t.Fatalf("start %d: %v", i+1, err)
				}
			}
			if _, err := c.EmailStart(ctx, "bomb@example.com"); errCode(err) != server.CodeRateLimited {
				t.Fatalf("sixth start: got %v, want %s", err, server.CodeRateLimited)
			}
			n := 0
			for _, m := range e.mbox.Messages() {
				if len(m.To) == 1 && m.To[0] == "bomb@example.com" {
					n++
				}
			}
			if n != 5 {
				t.Fatalf("mails sent: got %d, want 5", n)
			}
		}},
		{"an expired code is refused", func(t *testing.T, e *env) {
			ctx := context.Background()
			c := e.client()
			st, err := c.EmailStart(ctx, "late@example.com")
			if err != nil {
				t.Fatal(err)
			}
			code, _ := e.mail("late@example.com")
			e.advance(10*time.Minute + time.Second)
			if _, err := c.EmailVerify(ctx, st.FlowID, code, true); errCode(err) != server.CodeInvalidCode {
				t.Fatalf("code after 10 minutes: got %v, want %s", err, server.CodeInvalidCode)
			}
		}},
		{"a used code is refused the second time", func(t *testing.T, e *env) {
			ctx := context.Background()
			c := e.client()
			st, err := c.EmailStart(ctx, "twice@example.com")
			if err != nil {
				t.Fatal(err)
			}
			code, _ := e.mail("twice@example.com")
			if _, err := c.EmailVerify(ctx, st.FlowID, code, true); err != nil {
				t.Fatal(err)
			}
			if _, err := c.EmailVerify(ctx, st.FlowID, code, true); errCode(err) != server.CodeInvalidCode {
				t.Fatalf("second use: got %v, want %s", err, server.CodeInvalidCode)
			}
		}},
		{"a malformed code is refused without spending an attempt", func(t *testing.T, e *env) {
			ctx := context.Background()
			c := e.client()
			st, err := c.EmailStart(ctx, "format@example.com")
			if err != nil {
				t.Fatal(err)
			}
			code, _ := e.mail("format@example.com")
			for _, bad := range []string{"", "12345", "1234567", "12a456", " 123456", "ABCDE-FGHJ", "ABCDE-FGHJKM", "ABCDE-FGHJU", "ABCDE_FGHJK"} {
				if _, err := c.EmailVerify(ctx, st.FlowID, bad, true); errCode(err) != server.CodeInvalidRequest {
					t.Fatalf("code %q: got %v, want %s", bad, err, server.CodeInvalidRequest)
				}
			}
			if _, err := c.EmailVerify(ctx, st.FlowID, code, true); err != nil {
				t.Fatalf("the right code after malformed ones: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newEnv(t, envOptions{}))
		})
	}
}

// shape is an answer with what differs per request (ids, times) removed.
func shape(t *testing.T, status int, h http.Header, body []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not JSON: %q", body)
	}
	keys := []string{}
	for k, v := range m {
		keys = append(keys, fmt.Sprintf("%s:%T", k, v))
	}
	if fid, ok := m["flow_id"].(string); ok {
		keys = append(keys, fmt.Sprintf("flow_id_len:%d", len(fid)))
	}
	if v, ok := m["expires_in"]; ok {
		keys = append(keys, fmt.Sprintf("expires_in:%v", v))
	}
	var hk []string
	for k := range h {
		if k != "Date" && k != "X-Request-Id" && k != "Content-Length" {
			hk = append(hk, k+"="+strings.Join(h[k], ","))
		}
	}
	return fmt.Sprint(status, sortStrings(keys), sortStrings(hk))
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// An attacker who knows an address, but not its mailbox, must not be
// able to keep its owner from signing in by email. The attacker, from one
// network, asks for the most sign-in mails it may and makes forty wrong
// guesses over three flows; the owner, from another network, then asks
// for a mail and signs in with its code. The attacker's guesses stay as
// bounded as before: a right six-digit code past the address's limit is
// refused.
func TestEmailCode_AnAttackerWhoKnowsTheAddressCannotLockItsOwnerOut(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *server.Config) { c.TrustedProxies = []string{"127.0.0.1"} }})
	ctx := context.Background()
	const addr = "owner@example.com"
	from := func(ip string) *nioapi.Client {
		hc := e.httpClient()
		hc.Transport = forwardedFor{hc.Transport, []string{ip}}
		return nioapi.NewClient(e.url, hc)
	}
	attacker, owner := from("203.0.113.66"), from("198.51.100.7")

	// The attacker's mails: as many as one network may ask for.
	var flows []string
	var codes []string
	for {
		st, err := attacker.EmailStart(ctx, addr)
		if errCode(err) == server.CodeRateLimited {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		code, _ := e.mail(addr)
		flows, codes = append(flows, st.FlowID), append(codes, code)
		if len(flows) > 20 {
			t.Fatal("no limit on the mails one network asks for")
		}
	}
	// Forty wrong guesses over three of the flows.
	tally := map[string]int{}
	for i := range 40 {
		f := i % min(3, len(flows))
		_, err := attacker.EmailVerify(ctx, flows[f], wrongCode(codes[f]), true)
		tally[errCode(err)]++
	}
	t.Logf("%d mails asked for by the attacker; its 40 guesses: %v", len(flows), tally)
	// Past the address's limit the attacker's right six-digit code is
	// refused too: the limit still bounds guessing.
	last := len(flows) - 1
	if _, err := attacker.EmailVerify(ctx, flows[last], codes[last], true); errCode(err) != server.CodeRateLimited {
		t.Fatalf("a right six-digit code past the address's limit: got %v, want %s", err, server.CodeRateLimited)
	}

	// The owner asks for a mail and signs in with its code.
	st, err := owner.EmailStart(ctx, addr)
	if err != nil {
		t.Fatalf("the owner's sign-in mail: %v", err)
	}
	code, _ := e.mail(addr)
	if len(code) != len("XXXXX-XXXXX") {
		t.Fatalf("the owner's code while the address is being guessed: %d characters, want a long code", len(code))
	}
	s, err := owner.EmailVerify(ctx, st.FlowID, code, true)
	if err != nil {
		t.Fatalf("the owner's code: %v", err)
	}
	if s.User.Email != addr {
		t.Fatalf("the owner signed in as %+v", s.User)
	}
}

// Mails to one address from many networks are bounded together too
// (challenges_per_email_all), so that many networks cannot bomb it.
func TestEmailStart_MailsToOneAddressFromManyNetworksAreBounded(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *server.Config) {
		c.TrustedProxies = []string{"127.0.0.1"}
		c.RateLimits = map[string]int{"challenges_per_email": 2, "challenges_per_email_all": 5}
	}})
	ctx := context.Background()
	sent := 0
	for n := range 4 {
		hc := e.httpClient()
		hc.Transport = forwardedFor{hc.Transport, []string{fmt.Sprintf("203.0.113.%d", n+1)}}
		c := nioapi.NewClient(e.url, hc)
		for range 2 {
			if _, err := c.EmailStart(ctx, "bombed@example.com"); err == nil {
				sent++
			} else if errCode(err) != server.CodeRateLimited {
				t.Fatal(err)
			}
		}
	}
	if sent != 5 {
		t.Fatalf("mails sent from 4 networks, 2 each, at most 5 in all: got %d", sent)
	}
}

func TestEmailStart_AnswersTheSameForKnownAndUnknownAddresses(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.emailSignIn(e.client(), "known@example.com", true)
	hc := e.httpClient()
	start := func(addr string) string {
		status, h, b := e.raw(hc, "POST", "/v1/auth/email/start", `{"email":"`+addr+`"}`, map[string]string{"Content-Type": "application/json"})
		return shape(t, status, h, b)
	}
	known, unknown := start("known@example.com"), start("nobody@example.com")
	if known != unknown {
		t.Fatalf("the answers differ:\nknown:   %s\nunknown: %s", known, unknown)
	}
	if !strings.HasPrefix(known, "200") {
		t.Fatalf("start answered %s, want 200", known)
	}
	// Both addresses get a mail (which tells its owner the rest).
	e.mail("known@example.com")
	e.mail("nobody@example.com")
}

func TestEmailLink_TheGetShowsAPageAndOnlyThePostSignsInOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, err := e.client().EmailStart(ctx, "link@example.com"); err != nil {
		t.Fatal(err)
	}
	_, link := e.mail("link@example.com")
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	token := u.Query().Get("token")
	hc := e.httpClient()

	// A mail scanner follows the link: nothing is spent.
	for range 3 {
		status, h, body := e.raw(hc, "GET", u.RequestURI(), "", nil)
		if status != 200 || !strings.Contains(string(body), `method="post"`) || h.Get("Set-Cookie") != "" {
			t.Fatalf("GET of the link: status %d, cookie %q; want the confirmation page and no session", status, h.Get("Set-Cookie"))
		}
	}
	// The page's form signs in and sets the cookie.
	status, h, _ := e.raw(hc, "POST", "/auth/email/link", "token="+url.QueryEscape(token),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": e.url})
	if status != http.StatusSeeOther || !strings.Contains(h.Get("Set-Cookie"), "niomon_session=") {
		t.Fatalf("POST of the form: status %d, cookie %q; want 303 and a session cookie", status, h.Get("Set-Cookie"))
	}
	cookie := h.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	// A reused link is refused, by the form and by the API.
	status, _, body := e.raw(e.httpClient(), "POST", "/auth/email/link", "token="+url.QueryEscape(token),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if status != http.StatusBadRequest || !strings.Contains(string(body), "already been used") {
		t.Fatalf("reused link by form: status %d, want 400 and a page saying so", status)
	}
	if _, err := e.client().LinkConfirm(ctx, token, true); errCode(err) != server.CodeInvalidCode {
		t.Fatalf("reused link by API: got %v, want %s", err, server.CodeInvalidCode)
	}
	// The cookie session is signed in.
	st, _, b := e.raw(hc, "GET", "/v1/session", "", nil)
	var s nioapi.Session
	if st != 200 || json.Unmarshal(b, &s) != nil || s.User.Email != "link@example.com" || s.CSRFToken == "" {
		t.Fatalf("session after the link: %d %s", st, b)
	}
}

// An attacker can mail a victim the attacker's own sign-in link: the
// confirmation page must say which account it signs in to, so that the
// victim does not sign in to the attacker's account unawares; and a link
// that can no longer sign in says so before anyone presses the button.
func TestEmailLink_ThePageNamesTheAccountItSignsInTo(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, err := e.client().EmailStart(ctx, "mallory@example.com"); err != nil {
		t.Fatal(err)
	}
	_, link := e.mail("mallory@example.com")
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	page := func() (int, string) {
		status, _, body := e.raw(e.httpClient(), "GET", u.RequestURI(), "", nil)
		return status, string(body)
	}
	status, body := page()
	for _, want := range []string{"mallory@example.com", `method="post"`, "not your address"} {
		if status != 200 || !strings.Contains(body, want) {
			t.Fatalf("the confirmation page (status %d) lacks %q:\n%s", status, want, body)
		}
	}
	if _, err := e.client().LinkConfirm(ctx, u.Query().Get("token"), true); err != nil {
		t.Fatal(err)
	}
	status, body = page()
	if status != http.StatusBadRequest || strings.Contains(body, `method="post"`) || strings.Contains(body, "mallory@example.com") {
		t.Fatalf("the page of a spent link: status %d, want 400, no form and no address:\n%s", status, body)
	}
}

func TestEmailLink_ExpiredLinkIsRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, err := e.client().EmailStart(ctx, "old@example.com"); err != nil {
		t.Fatal(err)
	}
	_, link := e.mail("old@example.com")
	u, _ := url.Parse(link)
	e.advance(11 * time.Minute)
	if _, err := e.client().LinkConfirm(ctx, u.Query().Get("token"), true); errCode(err) != server.CodeInvalidCode {
		t.Fatalf("expired link: got %v, want %s", err, server.CodeInvalidCode)
	}
}

func TestEmailStart_RefusesWhatIsNotAnAddress(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	for _, bad := range []string{"", "alice", "alice@", "@example.com", "Alice <alice@example.com>", "a@b@example.com",
		"alice@example.com\r\nBcc: x@example.com", strings.Repeat("a", 250) + "@example.com",
		// Address literals: mail to a host the sender names by IP.
		"x@[127.0.0.1]", "x@[IPv6:::1]", "x@[10.0.0.1]"} {
		if _, err := e.client().EmailStart(ctx, bad); errCode(err) != server.CodeInvalidRequest {
			t.Errorf("address %q: got %v, want %s", bad, err, server.CodeInvalidRequest)
		}
	}
	if n := len(e.mbox.Messages()); n != 0 {
		t.Fatalf("mails sent for bad addresses: %d", n)
	}
	// What is wrong is said: an empty address and an overlong one do not
	// get the same message.
	for bad, want := range map[string]string{"": "want an email address", strings.Repeat("a", 300) + "@example.com": "over 254 bytes"} {
		if _, err := e.client().EmailStart(ctx, bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("address of %d bytes: got %v, want a message with %q", len(bad), err, want)
		}
	}
}

func TestRateLimited_AnswersSayWhenToRetry(t *testing.T) {
	e := newEnv(t, envOptions{})
	// Half past an hour: the hour windows do not turn during the test.
	now := time.Now()
	e.advance(now.Truncate(time.Hour).Add(90 * time.Minute).Sub(now))
	hc := e.httpClient()
	ct := map[string]string{"Content-Type": "application/json"}
	start := func(addr string) (int, int) {
		status, h, b := e.raw(hc, "POST", "/v1/auth/email/start", `{"email":"`+addr+`"}`, ct)
		if status == http.StatusTooManyRequests && apiError(t, b).Error.Code != server.CodeRateLimited {
			t.Fatalf("429 with code %q", apiError(t, b).Error.Code)
		}
		secs, _ := strconv.Atoi(h.Get("Retry-After"))
		return status, secs
	}
	// Two addresses with the same history: both are refused the sixth
	// mail with the same Retry-After.
	var waits []int
	for _, addr := range []string{"retry-a@example.com", "retry-b@example.com"} {
		for range 5 {
			if status, _ := start(addr); status != 200 {
				t.Fatalf("start: %d", status)
			}
		}
		status, secs := start(addr)
		if status != http.StatusTooManyRequests || secs < 2 || secs > 2*3600 {
			t.Fatalf("sixth start: %d, Retry-After %d s; want 429 and a wait within two hours", status, secs)
		}
		waits = append(waits, secs)
	}
	if waits[0] != waits[1] {
		t.Fatalf("Retry-After for the same history: %v, want equal", waits)
	}
	// Two seconds early is still too early; on time is not.
	e.advance(time.Duration(waits[1]-2) * time.Second)
	if status, _ := start("retry-b@example.com"); status != http.StatusTooManyRequests {
		t.Fatalf("2 s before Retry-After: got %d, want 429", status)
	}
	e.advance(2 * time.Second)
	if status, _ := start("retry-a@example.com"); status != 200 {
		t.Fatalf("at Retry-After: got %d, want 200", status)
	}
}

// Every test client comes from one address (127.0.0.1), so the per-IP
// limits, set to 3 here, are reached by one client across many
// addresses and keys.
func TestPerIPLimits_StopOneClientAcrossManyAccounts(t *testing.T) {
	const max = 3
	tests := []struct {
		name  string
		limit string
		// step runs attempt i (from 0); past the limit it must be
		// refused with rate_limited.
		step func(t *testing.T, e *env, i int) error
		// after checks what a refused attempt left behind.
		after func(t *testing.T, e *env)
	}{
		{"challenges_per_ip: a fourth address gets no code and no mail", "challenges_per_ip",
			func(t *testing.T, e *env, i int) error {
				_, err := e.client().EmailStart(context.Background(), fmt.Sprintf("ip%d@example.com", i))
				return err
			},
			func(t *testing.T, e *env) {
				for _, m := range e.mbox.Messages() {
					if len(m.To) == 1 && m.To[0] == fmt.Sprintf("ip%d@example.com", max) {
						t.Fatal("a mail went to the address past the limit")
					}
				}
			}},
		{"verify_per_ip: wrong codes for many addresses count together", "verify_per_ip",
			func(t *testing.T, e *env, i int) error {
				ctx := context.Background()
				addr := fmt.Sprintf("guess%d@example.com", i)
				c := e.client()
				st, err := c.EmailStart(ctx, addr)
				if err != nil {
					t.Fatal(err)
				}
				code, _ := e.mail(addr)
				if i < max {
					_, err = c.EmailVerify(ctx, st.FlowID, wrongCode(code), true)
					if errCode(err) == server.CodeInvalidCode {
						return nil // an attempt spent, as wanted
					}
					return err
				}
				// Past the limit even the right code is refused.
				_, err = c.EmailVerify(ctx, st.FlowID, code, true)
				return err
			}, nil},
		{"attestations_per_ip: a fourth attestation document is refused", "attestations_per_ip",
			func(t *testing.T, e *env, i int) error {
				_, err := e.client().Attestation(context.Background(), bytes.Repeat([]byte{byte(i)}, 32))
				return err
			}, nil},
		{"signups_per_ip: a fourth API-key sign-up is refused", "signups_per_ip",
			func(t *testing.T, e *env, i int) error {
				_, err := e.client().APIKeySignup(context.Background(), newAPIKey(t))
				return err
			}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{config: func(c *server.Config) {
				c.RateLimits = map[string]int{tc.limit: max}
			}})
			for i := range max {
				if err := tc.step(t, e, i); err != nil {
					t.Fatalf("attempt %d within the limit: %v", i+1, err)
				}
			}
			if err := tc.step(t, e, max); errCode(err) != server.CodeRateLimited {
				t.Fatalf("attempt %d: got %v, want %s", max+1, err, server.CodeRateLimited)
			}
			if tc.after != nil {
				tc.after(t, e)
			}
		})
	}
}

// Housekeeping keeps the window before the current one of every limit,
// the day-long ones too: a sliding limit reads it.
func TestHousekeep_KeepsWhatTheSlidingLimitsRead(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *server.Config) {
		c.RateLimits = map[string]int{"attempts_per_email_day": 2}
	}})
	ctx := context.Background()
	const addr = "daily@example.com"
	// 23:00 of a day: two wrong codes fill the day's limit.
	now := time.Now()
	e.advance(now.UTC().Truncate(24 * time.Hour).Add(47 * time.Hour).Sub(now))
	c := e.client()
	st, err := c.EmailStart(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := e.mail(addr)
	for range 2 {
		if _, err := c.EmailVerify(ctx, st.FlowID, wrongCode(code), true); errCode(err) != server.CodeInvalidCode {
			t.Fatalf("wrong code: got %v, want %s", err, server.CodeInvalidCode)
		}
	}
	// 03:00 the next day, after housekeeping, the day before still
	// weighs 7/8: a new flow gets a long code, which signs in.
	e.advance(4 * time.Hour)
	if err := e.srv.Housekeep(ctx); err != nil {
		t.Fatal(err)
	}
	st, err = c.EmailStart(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	code, _ = e.mail(addr)
	if len(code) != len("XXXXX-XXXXX") {
		t.Fatalf("the code of a new flow 4 h after two wrong ones, daily limit 2: %d characters, want a long code", len(code))
	}
	if _, err := c.EmailVerify(ctx, st.FlowID, code, true); err != nil {
		t.Fatalf("the long code: %v", err)
	}
}

func TestRateLimits_DoNotListWhoSignsIn(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, envOptions{postgres: backend == "postgres"}) // pgtest: skipped without a DSN, failed under CI=true
			c := e.client()
			e.emailSignIn(c, "who@example.com", true)
			db, err := sqldb.Open(context.Background(), e.dbc)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rows, err := db.Query("SELECT bucket FROM rate_limits")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var buckets []string
			for rows.Next() {
				var b string
				if err := rows.Scan(&b); err != nil {
					t.Fatal(err)
				}
				buckets = append(buckets, b)
			}
			perEmail := 0
			for _, b := range buckets {
				if strings.Contains(b, "who") || strings.Contains(b, "example.com") {
					t.Fatalf("a rate-limit bucket names the address: %q", b)
				}
				if strings.HasPrefix(b, "challenges_per_email:") || strings.HasPrefix(b, "attempts_per_email:") {
					perEmail++
				}
			}
			if perEmail < 2 {
				t.Fatalf("buckets %q: want the per-address ones (keyed digests) among them", buckets)
			}
		})
	}
}
