package phishing

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/mtibben/confusables"
)

func readLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && l[0] != '#' {
			out = append(out, l)
		}
	}
	return out
}

func polkadot(t testing.TB) *List {
	t.Helper()
	f, err := os.Open("testdata/polkadot_all.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := ParseAny("polkadot", f)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func registeredApps(t testing.TB) []App {
	var apps []App
	for _, o := range readLines(t, "testdata/registered_apps.txt") {
		apps = append(apps, App{Name: o, Origins: []string{o}})
	}
	return apps
}

func newChecker(t testing.TB, cfg Config) *Checker {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name, in                       string
		host, registrable, label, path string
		ip                             bool
		err                            bool
	}{
		{name: "an origin", in: "https://app.uniswap.org", host: "app.uniswap.org", registrable: "uniswap.org", label: "uniswap"},
		{name: "a bare host", in: "Uniswap.ORG.", host: "uniswap.org", registrable: "uniswap.org", label: "uniswap"},
		{name: "a host and port without scheme", in: "localhost:3000", host: "localhost"},
		{name: "userinfo and port dropped", in: "https://user:pw@evil.io:8443/x?y#z", host: "evil.io", registrable: "evil.io", label: "evil", path: "/x"},
		{name: "backslashes read as slashes", in: `https:\\evil.io\path`, host: "evil.io", registrable: "evil.io", label: "evil", path: "/path"},
		{name: "tabs and newlines removed, spaces trimmed", in: " \thttps://ev\nil.io\t ", host: "evil.io", registrable: "evil.io", label: "evil"},
		{name: "an IDN to punycode", in: "https://metamаsk.io", host: "xn--metamsk-6fg.io", registrable: "xn--metamsk-6fg.io", label: "xn--metamsk-6fg"},
		{name: "fullwidth letters mapped", in: "https://ｕｎｉｓｗａｐ.org", host: "uniswap.org", registrable: "uniswap.org", label: "uniswap"},
		{name: "a percent-encoded host decoded", in: "https://%75niswap.org", host: "uniswap.org", registrable: "uniswap.org", label: "uniswap"},
		{name: "a private suffix is an owner's suffix", in: "https://evil.github.io", host: "evil.github.io", registrable: "evil.github.io", label: "evil"},
		{name: "a public suffix has no registrable domain", in: "github.io", host: "github.io"},
		{name: "IPv4", in: "http://127.0.0.1:8080", host: "127.0.0.1", ip: true},
		{name: "IPv6", in: "http://[::1]:8080/", host: "[::1]", ip: true, path: "/"},
		{name: "a numeric host browsers rewrite", in: "http://0x7f.1", err: true},
		{name: "another scheme", in: "javascript:alert(1)", err: true},
		{name: "a file URL", in: "file:///etc/passwd", err: true},
		{name: "empty", in: "  ", err: true},
		{name: "a forbidden character", in: "https://ev<il.io", err: true},
		{name: "empty labels", in: "https://evil..io", err: true},
		{name: "a bad port", in: "https://evil.io:80a", err: true},
		{name: "a bad percent-encoding", in: "https://%zz.io", err: true},
		{name: "too long", in: "https://" + strings.Repeat("a", maxInput) + ".io", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Normalize(tc.in)
			if tc.err {
				if err == nil {
					t.Fatalf("Normalize(%q) = %+v, want an error", tc.in, h)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Name != tc.host || h.Registrable != tc.registrable || h.Label != tc.label || h.Path != tc.path || h.IP != tc.ip {
				t.Fatalf("Normalize(%q) = %+v", tc.in, h)
			}
		})
	}
}

func TestPolkadotDenyEntriesAreBlocked(t *testing.T) {
	l := polkadot(t)
	c := newChecker(t, Config{Lists: []*List{l}})
	if s := c.Stats(); s.Skipped != 0 || s.Deny < 54000 || s.DenyPath != 2 || s.Allow != 29 {
		t.Fatalf("stats %+v", s)
	}
	for _, e := range l.Deny {
		r := c.Check(e)
		if r.Verdict != Block || r.Reason != ReasonBlocklisted || r.Source != "polkadot" {
			t.Fatalf("deny entry %q: %+v", e, r)
		}
	}
	// Subdomains of an entry are blocked too; unlisted hosts are not.
	for _, tc := range []struct {
		in      string
		verdict Verdict
	}{
		{"https://login.0-chain.com", Block},
		{"https://0-chain.com.example", Allow},
		{"https://x.com/AcalaNetworks", Block},
		{"https://x.com/AcalaNetworks/status/1", Block},
		{"https://x.com/AcalaNetworksReal", Allow},
		{"https://x.com/", Allow},
	} {
		if r := c.Check(tc.in); r.Verdict != tc.verdict {
			t.Errorf("%s: %+v, want %s", tc.in, r, tc.verdict)
		}
	}
}

func TestPolkadotAllowEntriesPass(t *testing.T) {
	l := polkadot(t)
	c := newChecker(t, Config{Lists: []*List{l}})
	for _, e := range l.Allow {
		host := strings.Replace(e, "*.", "some-user.", 1)
		if r := c.Check(host); r.Verdict != Allow || r.Reason != ReasonListAllowed {
			t.Errorf("allow entry %q (%s): %+v", e, host, r)
		}
	}
	// The platform passes, a listed site under it does not.
	var listed string
	for _, e := range l.Deny {
		if strings.HasSuffix(e, ".github.io") {
			listed = e
			break
		}
	}
	if r := c.Check(listed); r.Verdict != Block {
		t.Fatalf("%s under an allowed platform: %+v", listed, r)
	}
}

func TestLookalikesAreFlaggedWithTheirReason(t *testing.T) {
	c := newChecker(t, Config{Apps: registeredApps(t), Lists: []*List{polkadot(t)}, Appeal: "write to appeals@example.org"})
	for _, tc := range []struct {
		name, in string
		reason   Reason
		matched  string
	}{
		{"a registered origin is allowed", "https://app.uniswap.org", ReasonRegistered, "https://app.uniswap.org"},
		{"its owner's other hosts are not look-alikes", "https://info.uniswap.org", ReasonUnlisted, ""},
		{"a Cyrillic a", "https://metamаsk.io", ReasonConfusable, "metamask.io"},
		{"rn for m", "https://rnetamask.io", ReasonConfusable, "metamask.io"},
		{"a digit for a letter", "https://0pensea.io", ReasonConfusable, "opensea.io"},
		{"one letter changed", "https://uniswqp.org", ReasonSpelling, "uniswap.org"},
		{"two letters swapped", "https://unsiwap.org", ReasonSpelling, "uniswap.org"},
		{"one letter added", "https://opensea.io.uniiswap.org", ReasonSpelling, "uniswap.org"},
		{"two edits on a long name", "https://pancakeswpa.finance", ReasonSpelling, "pancakeswap.finance"},
		{"two edits on a short name are too many", "https://unswqp.org", ReasonUnlisted, ""},
		{"the name under another suffix", "https://uniswap.io", ReasonOtherSuffix, "uniswap.org"},
		{"a registered domain in front of a foreign one", "https://app.uniswap.org.evil.io", ReasonEmbedded, "uniswap.org"},
		{"a registered domain as the whole subdomain", "https://opensea.io.claim-now.xyz", ReasonEmbedded, "opensea.io"},
		{"a name with a hyphenated word", "https://uniswap-airdrop.com", ReasonCombo, "uniswap.org"},
		{"a word and a hyphen before the name", "https://claim-opensea.net", ReasonCombo, "opensea.io"},
		{"a name with a word run on", "https://metamaskwallet.net", ReasonCombo, "metamask.io"},
		{"a short name is not looked for inside words", "https://blurry.net", ReasonUnlisted, ""},
		{"a brand as a subdomain label only", "https://metamask.tezos.com", ReasonUnlisted, ""},
		{"a blocklisted host", "https://0-chain.com", ReasonBlocklisted, "0-chain.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.Check(tc.in)
			if r.Reason != tc.reason || r.Matched != tc.matched {
				t.Fatalf("Check(%q) = %+v, want %s matching %q", tc.in, r, tc.reason, tc.matched)
			}
			want := Block
			switch tc.reason {
			case ReasonRegistered, ReasonUnlisted:
				want = Allow
			case ReasonOtherSuffix:
				want = Warn
			}
			if r.Verdict != want {
				t.Fatalf("Check(%q) = %+v, want %s", tc.in, r, want)
			}
			wantBlock := want == Block
			if wantBlock && (r.Appeal == "" || !strings.Contains(r.Explain(), tc.matched)) {
				t.Fatalf("a blocked user is told %q, appeal %q", r.Explain(), r.Appeal)
			}
			if strings.HasPrefix(string(tc.reason), "lookalike-") {
				whose := "a registered app's domain"
				if r.Source != SourceRegistry {
					whose = "a domain the list " + r.Source + " protects"
				}
				if !strings.Contains(r.Explain(), whose) {
					t.Fatalf("a look-alike of %s (source %s) is explained as %q, want %q", r.Matched, r.Source, r.Explain(), whose)
				}
			}
		})
	}
}

// The known-good hostnames pass with the registry and Polkadot's list
// loaded; the false-positive rate is logged and held.
func TestKnownGoodDomainsPass(t *testing.T) {
	c := newChecker(t, Config{Apps: registeredApps(t), Lists: []*List{polkadot(t)}})
	good := readLines(t, "testdata/known_good_domains.txt")
	flagged := map[Verdict][]string{}
	for _, h := range good {
		if r := c.Check(h); r.Verdict != Allow {
			flagged[r.Verdict] = append(flagged[r.Verdict], h+" ("+string(r.Reason)+" "+r.Matched+")")
		}
	}
	for _, tc := range []struct {
		verdict Verdict
		max     float64
	}{{Block, 0.001}, {Warn, 0.002}} {
		rate := float64(len(flagged[tc.verdict])) / float64(len(good))
		t.Logf("known-good hosts judged %s: %d of %d (%.3f%%): %v", tc.verdict, len(flagged[tc.verdict]), len(good), 100*rate, flagged[tc.verdict])
		if rate > tc.max {
			t.Errorf("%s rate %.3f%% is above %.1f%%", tc.verdict, 100*rate, 100*tc.max)
		}
	}
}

func TestMetaMaskConfigImport(t *testing.T) {
	f, err := os.Open("testdata/metamask_config.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := ParseAny("eth-phishing-detect", f)
	if err != nil {
		t.Fatal(err)
	}
	c := newChecker(t, Config{Lists: []*List{l}})
	for _, tc := range []struct {
		in      string
		verdict Verdict
		reason  Reason
	}{
		{"https://metamask-wallet-restore.com", Block, ReasonBlocklisted},
		{"https://xn--myetherwallt-2ck.com", Block, ReasonBlocklisted},
		{"https://metamask.github.io", Allow, ReasonListAllowed},
		{"https://metamask.com", Allow, ReasonListAllowed},
		{"https://myetherwalllet.com", Block, ReasonSpelling}, // tolerance 2 from the list
		{"https://myetherwallet.com", Allow, ReasonUnlisted},  // the protected domain itself
		{"https://example.com", Allow, ReasonUnlisted},
	} {
		r := c.Check(tc.in)
		if r.Verdict != tc.verdict || r.Reason != tc.reason || r.Verdict == Block && r.Source != "eth-phishing-detect" {
			t.Errorf("Check(%q) = %+v, want %s %s", tc.in, r, tc.verdict, tc.reason)
		}
	}
}

func TestListParsersRefuseWhatTheyDoNotRead(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parse func(string, *strings.Reader) (*List, error)
		in    string
	}{
		{"polkadot without deny", func(n string, r *strings.Reader) (*List, error) { return ParsePolkadot(n, r) }, `{"allow":[]}`},
		{"polkadot not JSON", func(n string, r *strings.Reader) (*List, error) { return ParsePolkadot(n, r) }, `deny`},
		{"metamask without lists", func(n string, r *strings.Reader) (*List, error) { return ParseMetaMask(n, r) }, `{"version":2}`},
		{"metamask tolerance out of range", func(n string, r *strings.Reader) (*List, error) { return ParseMetaMask(n, r) }, `{"tolerance":9,"blacklist":[]}`},
		{"any: broken JSON", func(n string, r *strings.Reader) (*List, error) { return ParseAny(n, r) }, `{"deny":`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l, err := tc.parse("x", strings.NewReader(tc.in)); err == nil {
				t.Fatalf("parsed %+v", l)
			}
		})
	}
}

func TestPlainListsAndSeveralListsNameTheirSource(t *testing.T) {
	a, err := ParseAny("team", strings.NewReader("# ours\nevil.io\n\nEVIL2.io.\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := newChecker(t, Config{Lists: []*List{polkadot(t), a}})
	for _, tc := range []struct{ in, source string }{
		{"https://evil.io", "team"},
		{"https://www.evil2.io", "team"},
		{"https://0-chain.com", "polkadot"},
	} {
		if r := c.Check(tc.in); r.Verdict != Block || r.Source != tc.source {
			t.Errorf("Check(%q) = %+v, want blocked by %s", tc.in, r, tc.source)
		}
	}
	if _, err := New(Config{Lists: []*List{a, a}}); err == nil {
		t.Fatal("two lists with one name were accepted")
	}
}

func TestHotUpdatesChangeVerdicts(t *testing.T) {
	team := &List{Name: "team", Deny: []string{"old.io"}}
	c := newChecker(t, Config{Lists: []*List{polkadot(t), team}})
	steps := []struct {
		name   string
		update func() error
		want   map[string]Verdict
	}{
		{"a diff adds and removes deny entries", func() error {
			return c.Apply(Diff{List: "team", AddDeny: []string{"new.io"}, RemoveDeny: []string{"OLD.io."}})
		}, map[string]Verdict{"new.io": Block, "old.io": Allow}},
		{"a diff allows a host under a deny entry", func() error {
			return c.Apply(Diff{List: "team", AddDeny: []string{"platform.io"}, AddAllow: []string{"ok.platform.io"}})
		}, map[string]Verdict{"ok.platform.io": Allow, "bad.platform.io": Block}},
		{"a full sync replaces the list", func() error {
			return c.ReplaceList(&List{Name: "team", Deny: []string{"synced.io"}})
		}, map[string]Verdict{"synced.io": Block, "new.io": Allow, "platform.io": Allow, "0-chain.com": Block}},
		{"a diff for an unknown list is refused and changes nothing", func() error {
			if err := c.Apply(Diff{List: "nobody", AddDeny: []string{"x.io"}}); err == nil {
				t.Fatal("a diff for no list was applied")
			}
			return nil
		}, map[string]Verdict{"x.io": Allow, "synced.io": Block}},
	}
	for _, s := range steps {
		if err := s.update(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		for host, v := range s.want {
			if r := c.Check(host); r.Verdict != v {
				t.Errorf("%s: Check(%q) = %+v, want %s", s.name, host, r, v)
			}
		}
	}
}

func TestOverridesStandOverListsWithTheirReason(t *testing.T) {
	c := newChecker(t, Config{Apps: registeredApps(t), Lists: []*List{polkadot(t)}, Appeal: "default appeal"})
	if err := c.SetOverrides([]Override{
		{Host: "0-chain.com", Verdict: Allow, Reason: "appeal 42: the owner took the site back"},
		{Host: "scam.example", Verdict: Block, Reason: "reported by support", Appeal: "contact the owner of the report"},
		{Host: "uniswap-airdrop.com", Verdict: Warn, Reason: "under review"},
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in      string
		verdict Verdict
		appeal  string
	}{
		{"https://0-chain.com", Allow, ""},
		{"https://www.scam.example", Block, "contact the owner of the report"},
		{"https://uniswap-airdrop.com", Warn, ""},
	} {
		r := c.Check(tc.in)
		if r.Verdict != tc.verdict || r.Reason != ReasonOverride || r.Source != SourceOverride || r.Note == "" || r.Appeal != tc.appeal {
			t.Errorf("Check(%q) = %+v", tc.in, r)
		}
	}
	for _, bad := range []Override{{Host: "x.io", Verdict: Block}, {Host: "x.io", Verdict: "maybe", Reason: "r"}, {Host: "x..io", Verdict: Block, Reason: "r"}} {
		if err := c.SetOverrides([]Override{bad}); err == nil {
			t.Errorf("override %+v was accepted", bad)
		}
	}
	// A refused update leaves the last good state.
	if r := c.Check("https://0-chain.com"); r.Verdict != Allow {
		t.Fatalf("after a refused update: %+v", r)
	}
}

func TestInvalidInputIsBlockedWithTheReason(t *testing.T) {
	c := newChecker(t, Config{})
	r := c.Check("javascript:alert(1)")
	if r.Verdict != Block || r.Reason != ReasonInvalid || !strings.Contains(r.Explain(), "javascript") {
		t.Fatalf("%+v: %s", r, r.Explain())
	}
	b, err := json.Marshal(r)
	if err != nil || !strings.Contains(string(b), `"reason":"invalid"`) {
		t.Fatalf("%s %v", b, err)
	}
}

func TestASCIISkeletonsAreTheLibrarys(t *testing.T) {
	for _, h := range append(readLines(t, "testdata/known_good_domains.txt"), "rnetamask", "0pensea", "paypa1", "IIama") {
		if got, want := skeleton(h), strings.ToLower(confusables.Skeleton(h)); got != want {
			t.Fatalf("skeleton(%q) = %q, want %q", h, got, want)
		}
	}
}

func TestOSADistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		max  int
		want int
	}{
		{"uniswap", "uniswap", 2, 0},
		{"uniswap", "uniswqp", 2, 1},
		{"uniswap", "unsiwap", 2, 1},
		{"uniswap", "uniiswap", 2, 1},
		{"uniswap", "niswap", 2, 1},
		{"uniswap", "unswqp", 2, 2},
		{"uniswap", "opensea", 2, 3},
		{"ab", "abcdef", 2, 3},
	} {
		if got := osa(tc.a, tc.b, tc.max); got != tc.want {
			t.Errorf("osa(%q, %q, %d) = %d, want %d", tc.a, tc.b, tc.max, got, tc.want)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"https://app.uniswap.org", "metamаsk.io", "http://[::1]:80", `https:\\a.b\c`, "http://0x7f.1", "https://%75.io", "a:1", "xn--metamsk-6fg.io", "ws://a.b.c.d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := Normalize(s)
		if err != nil {
			return
		}
		for i := 0; i < len(h.Name); i++ {
			if c := h.Name[i]; c >= 0x80 || 'A' <= c && c <= 'Z' || (!h.IP && forbidden(c)) {
				t.Fatalf("Normalize(%q).Name = %q", s, h.Name)
			}
		}
		if h.Registrable != "" && !strings.HasSuffix("."+h.Name, "."+h.Registrable) {
			t.Fatalf("Normalize(%q) = %+v", s, h)
		}
		again, err := Normalize(h.Name)
		if err != nil || again.Name != h.Name || again.Registrable != h.Registrable {
			t.Fatalf("Normalize(%q) = %+v, then %+v, %v", s, h, again, err)
		}
	})
}
