package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/server"
)

// feed is a phishing list served over HTTPS on loopback, whose content
// and status the test changes.
type feed struct {
	mu     sync.Mutex
	body   string
	status int
	ts     *httptest.Server
}

func (f *feed) set(status int, body string) {
	f.mu.Lock()
	f.status, f.body = status, body
	f.mu.Unlock()
}

func startFeed(t *testing.T, body string) *feed {
	f := &feed{body: body, status: http.StatusOK}
	f.ts = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(f.body))
	}))
	t.Cleanup(f.ts.Close)
	return f
}

type phishWorld struct {
	e          *env
	feed       *feed
	user, root *nioapi.Client
}

func newPhishWorld(t *testing.T) *phishWorld {
	t.Helper()
	file := filepath.Join(t.TempDir(), "plain.txt")
	if err := os.WriteFile(file, []byte("# a plain list\nevil.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := startFeed(t, `{"version":2,"tolerance":1,"fuzzylist":[],"whitelist":[],"blacklist":["drainer.example"]}`)
	e := newEnv(t, envOptions{
		httpClient: f.ts.Client(),
		config: func(c *server.Config) {
			c.Admins = []string{"admin@example.com"}
			c.Phishing.Appeal = "Think this is wrong? Write to abuse@example.com."
			c.Phishing.Lists = []server.PhishingList{{Name: "ops-file", File: file}, {Name: "feed", URL: f.ts.URL + "/list.json"}}
		},
	})
	w := &phishWorld{e: e, feed: f, user: e.client(), root: e.client()}
	e.emailSignIn(w.user, "alice@example.com", true)
	e.emailSignIn(w.root, "admin@example.com", true)
	return w
}

func (w *phishWorld) verdict(t *testing.T, host string) nioapi.SiteCheck {
	t.Helper()
	var out nioapi.SiteCheck
	if err := w.user.Do(context.Background(), http.MethodGet, "/v1/apps/lookup?origin="+url.QueryEscape("https://"+host), nil, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (w *phishWorld) status(t *testing.T) nioapi.PhishingStatus {
	t.Helper()
	var st nioapi.PhishingStatus
	if err := w.root.Do(context.Background(), http.MethodGet, "/v1/admin/phishing", nil, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestPhishing_ConfiguredListsBlockAndEachVerdictNamesItsList(t *testing.T) {
	w := newPhishWorld(t)
	for _, tc := range []struct{ host, verdict, source string }{
		{"evil.example", "block", "ops-file"},
		{"login.evil.example", "block", "ops-file"},
		{"drainer.example", "block", "feed"},
		{"fine.example", "allow", ""},
	} {
		got := w.verdict(t, tc.host)
		if got.Verdict != tc.verdict || !strings.Contains(got.Explanation, tc.source) {
			t.Fatalf("%s: %+v, want %s naming %q", tc.host, got, tc.verdict, tc.source)
		}
		if got.Verdict == "block" && got.Appeal != "Think this is wrong? Write to abuse@example.com." {
			t.Fatalf("%s: a blocked user is told %q, want the configured appeal", tc.host, got.Appeal)
		}
	}
	st := w.status(t)
	if len(st.Lists) != 2 || st.Lists[1].Deny != 1 || st.Lists[1].SyncedAt.IsZero() {
		t.Fatalf("status: %+v", st.Lists)
	}
}

func TestPhishing_DiffsAndSyncsChangeAListAndAFailedSyncKeepsTheLastCopy(t *testing.T) {
	w := newPhishWorld(t)
	ctx := context.Background()
	diff := nioapi.PhishingDiff{AddDeny: []string{"fresh-scam.example"}, RemoveDeny: []string{"drainer.example"}}
	if err := w.user.Do(ctx, http.MethodPost, "/v1/admin/phishing/lists/feed/diff", diff, &nioapi.PhishingStatus{}); errCode(err) != server.CodeForbidden {
		t.Fatalf("a user's diff: %v, want forbidden", err)
	}
	if err := w.root.Do(ctx, http.MethodPost, "/v1/admin/phishing/lists/nope/diff", diff, &nioapi.PhishingStatus{}); errCode(err) != server.CodeNotFound {
		t.Fatalf("a diff to an unknown list: %v, want not_found", err)
	}
	if err := w.root.Do(ctx, http.MethodPost, "/v1/admin/phishing/lists/feed/diff", diff, &nioapi.PhishingStatus{}); err != nil {
		t.Fatal(err)
	}
	if got := w.verdict(t, "fresh-scam.example"); got.Verdict != "block" {
		t.Fatalf("after the diff, fresh-scam.example: %+v", got)
	}
	if got := w.verdict(t, "drainer.example"); got.Verdict != "allow" {
		t.Fatalf("after the diff removed it, drainer.example: %+v", got)
	}

	// A full sync replaces the list with what the feed says now.
	w.feed.set(http.StatusOK, `{"version":2,"tolerance":1,"fuzzylist":[],"whitelist":[],"blacklist":["drainer.example","next-scam.example"]}`)
	if err := w.root.Do(ctx, http.MethodPost, "/v1/admin/phishing/lists/feed/sync", nil, &nioapi.PhishingStatus{}); err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{"next-scam.example": "block", "drainer.example": "block", "fresh-scam.example": "allow"} {
		if got := w.verdict(t, host); got.Verdict != want {
			t.Fatalf("after the sync, %s: %s, want %s", host, got.Verdict, want)
		}
	}
	// The feed fails: the last copy stays, and the status says so.
	w.feed.set(http.StatusInternalServerError, "oops")
	if err := w.root.Do(ctx, http.MethodPost, "/v1/admin/phishing/lists/feed/sync", nil, &nioapi.PhishingStatus{}); errCode(err) != server.CodeUnavailable {
		t.Fatalf("a failed sync: %v, want unavailable", err)
	}
	if got := w.verdict(t, "next-scam.example"); got.Verdict != "block" {
		t.Fatalf("after a failed sync, next-scam.example: %s, want block (the last copy)", got.Verdict)
	}
	if st := w.status(t); !strings.Contains(st.Lists[1].Error, "HTTP 500") {
		t.Fatalf("the status after a failed sync: %+v, want the error", st.Lists[1])
	}
}

func TestPhishing_OverridesDecideWithTheirReasonAndAreAudited(t *testing.T) {
	w := newPhishWorld(t)
	ctx := context.Background()
	put := func(c *nioapi.Client, o nioapi.PhishingOverride) error {
		return c.Do(ctx, http.MethodPost, "/v1/admin/phishing/overrides", o, &nioapi.PhishingStatus{})
	}
	if err := put(w.user, nioapi.PhishingOverride{Host: "evil.example", Verdict: "allow", Reason: "mine"}); errCode(err) != server.CodeForbidden {
		t.Fatalf("a user's override: %v, want forbidden", err)
	}
	if err := put(w.root, nioapi.PhishingOverride{Host: "evil.example", Verdict: "allow"}); errCode(err) != server.CodeInvalidRequest {
		t.Fatalf("an override without a reason: %v, want invalid_request", err)
	}
	if err := put(w.root, nioapi.PhishingOverride{Host: "Evil.Example.", Verdict: "allow", Reason: "the list is wrong: a university's site"}); err != nil {
		t.Fatal(err)
	}
	if err := put(w.root, nioapi.PhishingOverride{Host: "sneaky.example", Verdict: "block", Reason: "fake airdrop", Appeal: "If this is your site, write to abuse@example.com with the case number."}); err != nil {
		t.Fatal(err)
	}
	if got := w.verdict(t, "evil.example"); got.Verdict != "allow" || got.Reason != "override" {
		t.Fatalf("evil.example with an allow override: %+v", got)
	}
	got := w.verdict(t, "app.sneaky.example")
	if got.Verdict != "block" || !strings.Contains(got.Explanation, "fake airdrop") || !strings.Contains(got.Appeal, "case number") {
		t.Fatalf("a subdomain of a blocked override: %+v, want block with the reason and the appeal", got)
	}
	if err := w.root.Do(ctx, http.MethodDelete, "/v1/admin/phishing/overrides/evil.example", nil, &nioapi.PhishingStatus{}); errCode(err) != server.CodeInvalidRequest {
		t.Fatalf("removing without a reason: %v, want invalid_request", err)
	}
	if err := w.root.Do(ctx, http.MethodDelete, "/v1/admin/phishing/overrides/evil.example?reason="+url.QueryEscape("checked again"), nil, &nioapi.PhishingStatus{}); err != nil {
		t.Fatal(err)
	}
	if got := w.verdict(t, "evil.example"); got.Verdict != "block" {
		t.Fatalf("evil.example after its override was removed: %+v", got)
	}
	if st := w.status(t); len(st.Overrides) != 1 || st.Overrides[0].Host != "sneaky.example" {
		t.Fatalf("overrides: %+v", st.Overrides)
	}
	events, err := w.e.db.ListAudit(ctx, "", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range events {
		if ev.Event == "phishing.override" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("audit events phishing.override: %d, want 3 (two set, one removed)", n)
	}
}

func TestPhishing_AListThatCannotBeReadAtStartStopsTheServerNamingIt(t *testing.T) {
	var err error
	newEnv(t, envOptions{newErr: &err, config: func(c *server.Config) {
		c.Phishing.Lists = []server.PhishingList{{Name: "ops", File: "/nonexistent/list.txt"}}
	}})
	var se *server.SettingError
	if !errors.As(err, &se) || se.Setting != "phishing.lists[0]" {
		t.Fatalf("got %v, want a SettingError naming phishing.lists[0]", err)
	}
	cfg := server.DevConfig("http://127.0.0.1:1")
	cfg.Phishing.Lists = []server.PhishingList{{Name: "ops", File: "/x", URL: "https://x.example/l"}}
	if err := cfg.Validate(); !errors.As(err, &se) || se.Setting != "phishing.lists[0]" {
		t.Fatalf("a list with a file and a URL: %v, want a SettingError naming phishing.lists[0]", err)
	}
}

func TestPhishing_ADeveloperSeesWhyTheirOriginIsFlagged(t *testing.T) {
	w := newPhishWorld(t)
	var app nioapi.App
	in := nioapi.NewApp{Name: "Evil Corp", Contact: "a@example.com", Origins: []string{"https://app.evil.example", "https://fine.example"}}
	if err := w.user.Do(context.Background(), http.MethodPost, "/v1/apps", in, &app); err != nil {
		t.Fatal(err)
	}
	for _, o := range app.Origins {
		flagged := o.Origin == "https://app.evil.example"
		if flagged != (o.Verdict == "block") || flagged != strings.Contains(o.Flagged, "ops-file") {
			t.Fatalf("origin %s: verdict %q, flagged %q", o.Origin, o.Verdict, o.Flagged)
		}
	}
}

func TestPhishing_AnOverrideNamesARegisteredDomainAndABadRowStopsNothing(t *testing.T) {
	w := newPhishWorld(t)
	ctx := context.Background()
	for _, host := range []string{"[2001:db8::1]", "192.0.2.1", "*.wild.example", "example", "co.uk"} {
		err := w.root.Do(ctx, http.MethodPost, "/v1/admin/phishing/overrides", nioapi.PhishingOverride{Host: host, Verdict: "allow", Reason: "test"}, &nioapi.PhishingStatus{})
		if errCode(err) != server.CodeInvalidRequest {
			t.Fatalf("an override for %s: %v, want invalid_request", host, err)
		}
	}
	// A row the checker refuses, written straight into the database,
	// is skipped: the other overrides hold, and a new server starts.
	admin, err := w.e.db.LookupEmail(ctx, "admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.e.db.PutPhishingOverride(ctx, authdb.PhishingOverride{Host: "[2001:db8::1]", Verdict: "block", Reason: "edited"}, authdb.OverrideChange{AdminID: admin.UserID, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := w.root.Do(ctx, http.MethodPost, "/v1/admin/phishing/overrides", nioapi.PhishingOverride{Host: "later.example", Verdict: "block", Reason: "scam"}, &nioapi.PhishingStatus{}); err != nil {
		t.Fatalf("an override after a bad row: %v", err)
	}
	if got := w.verdict(t, "later.example"); got.Verdict != "block" {
		t.Fatalf("later.example after a bad row: %+v", got)
	}
	if err := w.e.srv.SyncPhishing(ctx, true); err != nil {
		t.Fatalf("a sync with a bad row: %v", err)
	}
}

func TestPhishing_AnAdministratorsAddressMatchesOnlyItself(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *server.Config) { c.Admins = []string{"ops@example.com"} }})
	for _, tc := range []struct {
		addr  string
		admin bool
	}{{"OPS@example.com", true}, {"opſ@example.com", false}} {
		c := e.client()
		e.emailSignIn(c, tc.addr, true)
		err := c.Do(context.Background(), http.MethodGet, "/v1/admin/apps", nil, &[]nioapi.App{})
		if (err == nil) != tc.admin {
			t.Fatalf("%s listing the vetting queue: %v, want admin %v", tc.addr, err, tc.admin)
		}
	}
}
