package niomoncmd

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/niomon/niomon/internal/phishing"
)

const phishingUsage = `niomon phishing check [--app-domain DOMAIN]... [--list FILE]... [--json] [URL...]

Judges each URL (an origin, a URL or a host) as the server does before it
serves a sign request or a login: one line per URL with the URL, the
verdict (allow, warn or block), the reason and the source, tab-separated;
with --json, one JSON object per line. Without URLs it reads them from
stdin, one a line.

  --app-domain DOMAIN  a registered app's domain (https://DOMAIN is its
                       origin); look-alikes of it are judged (repeatable)
  --list FILE          a phishing list: MetaMask's eth-phishing-detect
                       config.json, Polkadot's all.json, or one domain a
                       line (repeatable; the file's name is its source)
  --json               JSON lines instead of tab-separated columns
`

// repeated is a flag that may be given many times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func cmdPhishing(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, phishingUsage)
			return nil
		}
		return usagef("phishing: want \"check\"\n\n%s", phishingUsage)
	}
	fs := newFlagSet("phishing check", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, phishingUsage) }
	var domains, lists repeated
	fs.Var(&domains, "app-domain", "")
	fs.Var(&lists, "list", "")
	asJSON := fs.Bool("json", false, "")
	// Flags may come after URLs too.
	var urls []string
	rest := args[1:]
	for {
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		urls = append(urls, rest[0])
		rest = rest[1:]
	}
	cfg := phishing.Config{Appeal: "if this is your site, ask the operator of this Niomon service to review it"}
	for _, d := range domains {
		origin := d
		if !strings.Contains(d, "://") {
			origin = "https://" + d
		}
		cfg.Apps = append(cfg.Apps, phishing.App{Name: d, Origins: []string{origin}})
	}
	names := map[string]bool{}
	for _, path := range lists {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("--list: %w", err)
		}
		name := filepath.Base(path)
		if names[name] {
			name = path
		}
		names[name] = true
		l, err := phishing.ParseAny(name, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("--list %s: %w", path, err)
		}
		cfg.Lists = append(cfg.Lists, l)
	}
	c, err := phishing.New(cfg)
	if err != nil {
		return err
	}
	if s := c.Stats(); s.Skipped > 0 {
		fmt.Fprintf(stderr, "niomon: %d list entries are not hosts and were skipped, such as %s\n", s.Skipped, strings.Join(s.SkippedExamples, "; "))
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	judge := func(u string) error {
		r := c.Check(u)
		if *asJSON {
			return enc.Encode(struct {
				URL string `json:"url"`
				phishing.Result
				Explanation string `json:"explanation"`
			}{u, r, r.Explain()})
		}
		source := r.Source
		if source == "" {
			source = "-"
		}
		_, err := fmt.Fprintf(out, "%s\t%s\t%s: %s\t%s\n", oneLine(u), r.Verdict, r.Reason, r.Explain(), source)
		return err
	}
	if len(urls) > 0 {
		for _, u := range urls {
			if err := judge(u); err != nil {
				return err
			}
		}
		return nil
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		u := strings.TrimSpace(sc.Text())
		if u == "" || strings.HasPrefix(u, "#") {
			continue
		}
		if err := judge(u); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading URLs from stdin: %w", err)
	}
	return nil
}

// oneLine keeps a URL that holds tabs or newlines from breaking the
// columns.
func oneLine(s string) string {
	return strings.NewReplacer("\t", `\t`, "\n", `\n`, "\r", `\r`).Replace(s)
}
