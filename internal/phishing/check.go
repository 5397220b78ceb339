package phishing

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Verdict is what a caller does with a site.
type Verdict string

const (
	Allow Verdict = "allow"
	Warn  Verdict = "warn"
	Block Verdict = "block"
)

// Reason says why, in a word a program can switch on; Result.Explain
// says it to a person.
type Reason string

const (
	ReasonRegistered  Reason = "registered"           // a registered, verified app's origin
	ReasonListAllowed Reason = "list-allowed"         // a list's allow entry
	ReasonOverride    Reason = "override"             // an administrator's decision
	ReasonBlocklisted Reason = "blocklisted"          // a list's deny entry
	ReasonConfusable  Reason = "lookalike-confusable" // reads like a registered name (UTS #39 skeleton)
	ReasonSpelling    Reason = "lookalike-spelling"   // a registered name with a few letters changed
	ReasonOtherSuffix Reason = "lookalike-suffix"     // a registered name under another suffix
	ReasonEmbedded    Reason = "lookalike-embedded"   // a registered domain left of a foreign one
	ReasonCombo       Reason = "lookalike-combo"      // a registered name with a word or hyphen added
	ReasonUnlisted    Reason = "unlisted"             // nothing matched
	ReasonInvalid     Reason = "invalid"              // not a URL or host
)

// Result is a verdict with its grounds.
type Result struct {
	Verdict Verdict `json:"verdict"`
	Reason  Reason  `json:"reason"`
	// Host is the normalised host judged ("" when the input was invalid).
	Host string `json:"host,omitempty"`
	// Display is the host as a user reads it, when its IDN labels make
	// that differ from Host.
	Display string `json:"display,omitempty"`
	// Matched is the entry that decided: a list entry, a registered
	// origin or domain, or an override's host.
	Matched string `json:"matched,omitempty"`
	// Source is the list's name, "registry", or "override".
	Source string `json:"source,omitempty"`
	// Note is an override's recorded reason, or an invalid input's error.
	Note string `json:"note,omitempty"`
	// Appeal is what a blocked user or developer is told to do.
	Appeal string `json:"appeal,omitempty"`
}

// Sources that are not lists.
const (
	SourceRegistry = "registry"
	SourceOverride = "override"
)

// Explain says the verdict's grounds to a person.
func (r Result) Explain() string {
	if r.Display != "" {
		r.Host = r.Display + " (" + r.Host + ")"
	}
	switch r.Reason {
	case ReasonRegistered:
		return fmt.Sprintf("%s is a verified origin of a registered app (%s)", r.Host, r.Matched)
	case ReasonListAllowed:
		return fmt.Sprintf("%s is allowed by the list %s (%s)", r.Host, r.Source, r.Matched)
	case ReasonOverride:
		return fmt.Sprintf("an administrator decided %s for %s: %s", r.Verdict, r.Matched, r.Note)
	case ReasonBlocklisted:
		return fmt.Sprintf("%s is on the phishing list %s (entry %s)", r.Host, r.Source, r.Matched)
	case ReasonConfusable:
		return fmt.Sprintf("%s uses letters that look like those of %s, %s", r.Host, r.Matched, r.whose())
	case ReasonSpelling:
		return fmt.Sprintf("%s is spelled almost like %s, %s", r.Host, r.Matched, r.whose())
	case ReasonOtherSuffix:
		return fmt.Sprintf("%s has the name of %s, %s, under another suffix", r.Host, r.Matched, r.whose())
	case ReasonEmbedded:
		return fmt.Sprintf("%s puts %s, %s, in front of a domain its owner does not hold", r.Host, r.Matched, r.whose())
	case ReasonCombo:
		return fmt.Sprintf("%s adds to the name of %s, %s", r.Host, r.Matched, r.whose())
	case ReasonInvalid:
		return "not a valid URL or host: " + r.Note
	}
	return fmt.Sprintf("%s is on no list and looks like no registered app", r.Host)
}

// whose says where a look-alike's original comes from: a registered app,
// or a list that protects it.
func (r Result) whose() string {
	if r.Source == "" || r.Source == SourceRegistry {
		return "a registered app's domain"
	}
	return "a domain the list " + r.Source + " protects"
}

// App is a registered, verified app as the checker needs it: its
// origins ("https://app.example.com", "https://*.example.com",
// "http://localhost:3000").
type App struct {
	Name    string
	Origins []string
}

// Override is an administrator's decision for a host and its subdomains,
// with the reason it was made and what a blocked user is told.
type Override struct {
	Host    string
	Verdict Verdict
	Reason  string
	Appeal  string
}

// Config is everything a Checker judges by.
type Config struct {
	Apps      []App
	Lists     []*List
	Overrides []Override
	// Appeal is what a blocked user is told when no override says
	// otherwise.
	Appeal string
}

// Stats counts what a Checker holds.
type Stats struct {
	Deny, DenyPath, Allow, Targets, Overrides int
	// Skipped counts entries that are not hosts (each list's first few
	// are in SkippedExamples).
	Skipped         int
	SkippedExamples []string
}

// Checker answers Check from an immutable index, replaced as a whole on
// every update, so checks never wait for an update.
type Checker struct {
	mu  sync.Mutex // serialises updates
	cfg Config
	idx atomic.Pointer[index]
}

// New builds a Checker.
func New(cfg Config) (*Checker, error) {
	c := &Checker{}
	if err := c.set(cfg); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Checker) set(cfg Config) error {
	idx, err := build(cfg)
	if err != nil {
		return err
	}
	c.cfg = cfg
	c.idx.Store(idx)
	return nil
}

// Stats says what the checker holds now.
func (c *Checker) Stats() Stats { return c.idx.Load().stats }

// update builds a new index from the current configuration as change
// leaves it, and swaps it in; on an error nothing changes.
func (c *Checker) update(change func(cfg *Config) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg := c.cfg
	cfg.Lists = slices.Clone(cfg.Lists)
	if err := change(&cfg); err != nil {
		return err
	}
	return c.set(cfg)
}

// SetApps replaces the registered apps (the registry calls it whenever a
// vetting decision changes which origins are verified).
func (c *Checker) SetApps(apps []App) error {
	return c.update(func(cfg *Config) error { cfg.Apps = apps; return nil })
}

// SetOverrides replaces the administrators' overrides.
func (c *Checker) SetOverrides(o []Override) error {
	return c.update(func(cfg *Config) error { cfg.Overrides = o; return nil })
}

// ReplaceList is a full sync: the list named l.Name is replaced by l
// (added if there is none).
func (c *Checker) ReplaceList(l *List) error {
	return c.update(func(cfg *Config) error {
		for i, old := range cfg.Lists {
			if old.Name == l.Name {
				cfg.Lists[i] = l
				return nil
			}
		}
		cfg.Lists = append(cfg.Lists, l)
		return nil
	})
}

// Diff is a hot update of one list.
type Diff struct {
	List                                       string
	AddDeny, RemoveDeny, AddAllow, RemoveAllow []string
}

// Apply applies a diff to the list it names.
func (c *Checker) Apply(d Diff) error {
	return c.update(func(cfg *Config) error {
		for i, old := range cfg.Lists {
			if old.Name == d.List {
				l := *old
				l.Deny = applySet(old.Deny, d.AddDeny, d.RemoveDeny)
				l.Allow = applySet(old.Allow, d.AddAllow, d.RemoveAllow)
				cfg.Lists[i] = &l
				return nil
			}
		}
		return fmt.Errorf("phishing: no list named %q to apply a diff to", d.List)
	})
}

func applySet(cur, add, remove []string) []string {
	gone := make(map[string]bool, len(remove))
	for _, r := range remove {
		gone[entryKey(r)] = true
	}
	out := make([]string, 0, len(cur)+len(add))
	seen := make(map[string]bool, len(cur)+len(add))
	for _, e := range append(slices.Clone(cur), add...) {
		k := entryKey(e)
		if gone[k] || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, e)
	}
	return out
}

// entryKey is how list entries compare: case and a trailing dot aside.
func entryKey(e string) string { return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(e)), ".") }

// Check judges a URL, an origin or a host.
func (c *Checker) Check(raw string) Result {
	h, err := normalize(raw, false)
	if err != nil {
		return Result{Verdict: Block, Reason: ReasonInvalid, Note: strings.TrimPrefix(err.Error(), "phishing: ")}
	}
	return c.idx.Load().check(h)
}

// CheckHost judges a host already normalised.
func (c *Checker) CheckHost(h Host) Result { return c.idx.Load().check(h) }
