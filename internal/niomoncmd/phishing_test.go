package niomoncmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPhishingCheckCommand(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "team.txt")
	polkadot := filepath.Join(dir, "all.json")
	for path, body := range map[string]string{
		plain:    "# ours\nscam-airdrop.io\n",
		polkadot: `{"allow":["github.io"],"deny":["0-chain.com","evil.github.io"],"denySub":["x.com/FakeSupport"]}`,
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lists := []string{"--app-domain", "uniswap.org", "--list", plain, "--list", polkadot}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  []string // one line per URL: its tab-separated columns' start
		code  bool     // want an error
	}{
		{name: "each verdict with its reason and source", args: append([]string{"check", "https://uniswap.org", "https://0-chain.com", "https://uniswqp.org", "https://scam-airdrop.io", "https://evil.github.io", "https://x.com/FakeSupport/1", "https://example.com"}, lists...),
			want: []string{
				"https://uniswap.org\tallow\tregistered: \tregistry",
				"https://0-chain.com\tblock\tblocklisted: \tall.json",
				"https://uniswqp.org\tblock\tlookalike-spelling: \tregistry",
				"https://scam-airdrop.io\tblock\tblocklisted: \tteam.txt",
				"https://evil.github.io\tblock\tblocklisted: \tall.json",
				"https://x.com/FakeSupport/1\tblock\tblocklisted: \tall.json",
				"https://example.com\tallow\tunlisted: \t-",
			}},
		{name: "URLs from stdin, flags after URLs", args: []string{"check", "--list", polkadot}, stdin: "# appeals\nhttps://0-chain.com\n\nhttps://github.io\n",
			want: []string{"https://0-chain.com\tblock\tblocklisted: \tall.json", "https://github.io\tallow\tlist-allowed: \tall.json"}},
		{name: "an invalid URL is blocked and says why", args: []string{"check", "javascript:alert(1)"},
			want: []string{"javascript:alert(1)\tblock\tinvalid: \t-"}},
		{name: "a list that cannot be read", args: []string{"check", "--list", filepath.Join(dir, "missing.txt"), "https://a.io"}, code: true},
		{name: "no subcommand", args: []string{}, code: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := cmdPhishing(tc.args, strings.NewReader(tc.stdin), &out, &errOut)
			if tc.code {
				if err == nil {
					t.Fatalf("no error; output %q", out.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("output:\n%s", out.String())
			}
			for i, w := range tc.want {
				cols, wantCols := strings.Split(lines[i], "\t"), strings.Split(w, "\t")
				if len(cols) != 4 || cols[0] != wantCols[0] || cols[1] != wantCols[1] || !strings.HasPrefix(cols[2], wantCols[2]) || len(cols[2]) <= len(wantCols[2]) || cols[3] != wantCols[3] {
					t.Errorf("line %d: %q, want %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestPhishingCheckCommandJSON(t *testing.T) {
	var out bytes.Buffer
	if err := cmdPhishing([]string{"check", "--json", "--app-domain", "metamask.io", "https://metamаsk.io"}, strings.NewReader(""), &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var r struct {
		URL, Verdict, Reason, Host, Display, Matched, Source, Explanation string
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if r.Verdict != "block" || r.Reason != "lookalike-confusable" || r.Host != "xn--metamsk-6fg.io" || r.Display != "metamаsk.io" || r.Matched != "metamask.io" || !strings.Contains(r.Explanation, "look like") {
		t.Fatalf("%+v", r)
	}
}
