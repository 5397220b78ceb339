package phishing

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mtibben/confusables"
)

// index is one immutable state of a Checker.
type index struct {
	lists []string // names, by list number

	deny     map[string]uint16 // host → list
	denyPath map[string][]pathEntry
	allow    map[string]uint16 // exact host → list
	allowSub map[string]uint16 // "*.host" entries: host → list

	registered    map[string]string // exact host → origin pattern
	registeredSub map[string]string // host of a "*." origin → origin pattern

	overrides map[string]*Override

	targets    []target
	byDomain   map[string]int32   // registrable domain → target
	byLabel    map[string][]int32 // registrable label → targets
	bySkeleton map[string][]int32 // skeleton of the label → targets
	deletes    map[string][]int32 // label with 0..tolerance letters deleted → targets
	// deleteHashes holds hashOf of every key of deletes.
	deleteHashes hashSet
	comboLens    []int // distinct label lengths of targets long enough for combos
	maxTol       int
	twoFrom      int // the shortest label within two edits of a target that allows two

	appeal string
	stats  Stats
}

type pathEntry struct {
	prefix string
	list   uint16
}

// target is a domain whose look-alikes are caught.
type target struct {
	domain, label, skeleton string
	source                  string
	tolerance               int
}

// Look-alike thresholds.
const (
	// comboMin: a name shorter than this is not looked for inside
	// longer words ("chain" ends too many real names).
	comboMin = 6
	// hyphenMin: a hyphen-separated part of at least this length that is
	// a registered name makes a combo ("aave-rewards").
	hyphenMin = 4
	// maxLabel is the longest DNS label.
	maxLabel = 63
	// maxListed bounds the lists one checker holds (a list number is a
	// uint16).
	maxListed = 1 << 15
)

// tolerance is how many edits a look-alike of a name of length n may
// have: none below 5 letters (too many real names are that close), one
// up to 9, two from 10.
func tolerance(n int) int {
	switch {
	case n < 5:
		return 0
	case n < 10:
		return 1
	}
	return 2
}

// skippedShown is how many skipped entries Stats lists.
const skippedShown = 10

func build(cfg Config) (*index, error) {
	if len(cfg.Lists) > maxListed {
		return nil, fmt.Errorf("phishing: at most %d lists", maxListed)
	}
	x := &index{
		deny: map[string]uint16{}, denyPath: map[string][]pathEntry{}, allow: map[string]uint16{}, allowSub: map[string]uint16{},
		registered: map[string]string{}, registeredSub: map[string]string{}, overrides: map[string]*Override{},
		byDomain: map[string]int32{}, byLabel: map[string][]int32{}, bySkeleton: map[string][]int32{}, deletes: map[string][]int32{},
		appeal: cfg.Appeal,
	}
	skip := func(list, entry string) {
		x.stats.Skipped++
		if len(x.stats.SkippedExamples) < skippedShown {
			x.stats.SkippedExamples = append(x.stats.SkippedExamples, list+": "+entry)
		}
	}
	seenName := map[string]bool{}
	for i, l := range cfg.Lists {
		if l.Name == "" || seenName[l.Name] || l.Name == SourceRegistry || l.Name == SourceOverride {
			return nil, fmt.Errorf("phishing: list %d needs a name of its own (not empty, %q or %q)", i+1, SourceRegistry, SourceOverride)
		}
		seenName[l.Name] = true
		n := uint16(i)
		x.lists = append(x.lists, l.Name)
		for _, e := range l.Deny {
			h, err := normalizeHost(entryKey(e), false)
			if err != nil {
				skip(l.Name, e)
				continue
			}
			if _, ok := x.deny[h.Name]; !ok {
				x.deny[h.Name] = n
				x.stats.Deny++
			}
		}
		for _, e := range l.DenyPath {
			host, path, ok := strings.Cut(strings.TrimSpace(e), "/")
			h, err := normalizeHost(entryKey(host), false)
			if !ok || err != nil || path == "" {
				skip(l.Name, e)
				continue
			}
			x.denyPath[h.Name] = append(x.denyPath[h.Name], pathEntry{prefix: "/" + path, list: n})
			x.stats.DenyPath++
		}
		for _, e := range l.Allow {
			k := entryKey(e)
			m := x.allow
			if rest, ok := strings.CutPrefix(k, "*."); ok {
				k, m = rest, x.allowSub
			}
			h, err := normalizeHost(k, false)
			if err != nil {
				skip(l.Name, e)
				continue
			}
			if _, ok := m[h.Name]; !ok {
				m[h.Name] = n
				x.stats.Allow++
			}
		}
		for _, e := range l.Protect {
			h, err := normalizeHost(entryKey(e), true)
			if err != nil || h.Registrable == "" {
				skip(l.Name, e)
				continue
			}
			x.addTarget(h, l.Name, l.Tolerance)
		}
	}
	for _, a := range cfg.Apps {
		for _, o := range a.Origins {
			pattern, wild := o, false
			if scheme, rest, ok := strings.Cut(o, "://*."); ok {
				o, wild = scheme+"://"+rest, true
			}
			h, err := Normalize(o)
			if err != nil {
				return nil, fmt.Errorf("phishing: app %q: origin %q: %w", a.Name, pattern, err)
			}
			if wild {
				x.registeredSub[h.Name] = pattern
			} else {
				x.registered[h.Name] = pattern
			}
			if h.Registrable != "" {
				x.addTarget(h, SourceRegistry, tolerance(len(h.Label)))
			}
		}
	}
	for i := range cfg.Overrides {
		o := &cfg.Overrides[i]
		h, err := normalizeHost(entryKey(o.Host), true)
		if err != nil {
			return nil, fmt.Errorf("phishing: override for %q: %w", o.Host, err)
		}
		switch o.Verdict {
		case Allow, Warn, Block:
		default:
			return nil, fmt.Errorf("phishing: override for %q: verdict %q is not allow, warn or block", o.Host, o.Verdict)
		}
		if strings.TrimSpace(o.Reason) == "" {
			return nil, fmt.Errorf("phishing: override for %q needs a reason", o.Host)
		}
		x.overrides[h.Name] = o
	}
	x.stats.Overrides = len(x.overrides)
	x.stats.Targets = len(x.targets)
	for n := range x.byLabel {
		if len(n) >= comboMin && !slices.Contains(x.comboLens, len(n)) {
			x.comboLens = append(x.comboLens, len(n))
		}
	}
	slices.Sort(x.comboLens)
	hashes := make([]uint64, 0, len(x.deletes))
	for d := range x.deletes {
		hashes = append(hashes, hashOf(d))
	}
	x.deleteHashes = newHashSet(hashes)
	return x, nil
}

// addTarget makes h's registrable domain one whose look-alikes are
// caught; the first source to name a domain keeps it.
func (x *index) addTarget(h Host, source string, tol int) {
	if _, ok := x.byDomain[h.Registrable]; ok {
		return
	}
	t := int32(len(x.targets))
	x.targets = append(x.targets, target{domain: h.Registrable, label: h.Label, skeleton: skeleton(unicodeLabel(h)), source: source, tolerance: tol})
	x.byDomain[h.Registrable] = t
	x.byLabel[h.Label] = append(x.byLabel[h.Label], t)
	x.bySkeleton[x.targets[t].skeleton] = append(x.bySkeleton[x.targets[t].skeleton], t)
	if tol > x.maxTol {
		x.maxTol = tol
	}
	if tol >= 2 && (x.twoFrom == 0 || len(h.Label)-2 < x.twoFrom) {
		x.twoFrom = max(len(h.Label)-2, 1)
	}
	for _, d := range append([]string{h.Label}, deletions(h.Label, tol)...) {
		if !slices.Contains(x.deletes[d], t) {
			x.deletes[d] = append(x.deletes[d], t)
		}
	}
}

// deletions returns s with every choice of 1..n letters deleted.
func deletions(s string, n int) []string {
	var out []string
	cur := []string{s}
	for range n {
		var next []string
		for _, w := range cur {
			for i := range len(w) {
				d := w[:i] + w[i+1:]
				if !slices.Contains(next, d) {
					next = append(next, d)
				}
			}
		}
		out = append(out, next...)
		cur = next
	}
	return out
}

func (x *index) list(n uint16) string { return x.lists[n] }

func (x *index) check(h Host) Result {
	r := x.decide(h)
	r.Host = h.Name
	if h.Unicode != h.Name {
		r.Display = h.Unicode
	}
	if r.Verdict == Block && r.Appeal == "" {
		r.Appeal = x.appeal
	}
	return r
}

func (x *index) decide(h Host) Result {
	// Overrides first: an administrator's decision stands over lists.
	for s := h.Name; len(x.overrides) > 0; {
		if o := x.overrides[s]; o != nil {
			return Result{Verdict: o.Verdict, Reason: ReasonOverride, Matched: s, Source: SourceOverride, Note: o.Reason, Appeal: o.Appeal}
		}
		var ok bool
		if _, s, ok = strings.Cut(s, "."); !ok {
			break
		}
	}
	// 1. The registered, verified origins.
	if p, ok := x.registered[h.Name]; ok {
		return Result{Verdict: Allow, Reason: ReasonRegistered, Matched: p, Source: SourceRegistry}
	}
	for s := h.Name; len(x.registeredSub) > 0; {
		var ok bool
		if _, s, ok = strings.Cut(s, "."); !ok {
			break
		}
		if p, ok := x.registeredSub[s]; ok {
			return Result{Verdict: Allow, Reason: ReasonRegistered, Matched: p, Source: SourceRegistry}
		}
	}
	// 2. The lists: the most specific deny entry, unless an allow entry
	// at least as specific names the host.
	denyAt, denyList := "", uint16(0)
	for s := h.Name; ; {
		if n, ok := x.deny[s]; ok {
			denyAt, denyList = s, n
			break
		}
		var ok bool
		if _, s, ok = strings.Cut(s, "."); !ok {
			break
		}
	}
	if h.Path != "" {
		for _, p := range x.denyPath[h.Name] {
			if strings.HasPrefix(h.Path, p.prefix) && (len(h.Path) == len(p.prefix) || h.Path[len(p.prefix)] == '/') {
				return Result{Verdict: Block, Reason: ReasonBlocklisted, Matched: h.Name + p.prefix, Source: x.list(p.list)}
			}
		}
	}
	allowAt, allowList, allowed := x.allowed(h.Name)
	if allowed && len(allowAt) >= len(denyAt) {
		return Result{Verdict: Allow, Reason: ReasonListAllowed, Matched: allowAt, Source: x.list(allowList)}
	}
	if denyAt != "" {
		return Result{Verdict: Block, Reason: ReasonBlocklisted, Matched: denyAt, Source: x.list(denyList)}
	}
	// 3. Look-alikes of the registered domains (and of lists' protected
	// ones), judged on the registrable label.
	if r, ok := x.lookalike(h); ok {
		return r
	}
	return Result{Verdict: Allow, Reason: ReasonUnlisted}
}

// allowed finds a list allow entry for host: the host itself, or a
// "*." entry of one of its parents (whose string is returned with the
// "*." so that it counts as less specific than a deny entry of the same
// host).
func (x *index) allowed(host string) (string, uint16, bool) {
	if n, ok := x.allow[host]; ok {
		return host, n, true
	}
	for s := host; len(x.allowSub) > 0; {
		var ok bool
		if _, s, ok = strings.Cut(s, "."); !ok {
			return "", 0, false
		}
		if n, ok := x.allowSub[s]; ok {
			return "*." + s, n, true
		}
	}
	return "", 0, false
}

func (x *index) lookalike(h Host) (Result, bool) {
	if len(x.targets) == 0 {
		return Result{}, false
	}
	h.findDomain()
	if h.Registrable == "" {
		return Result{}, false
	}
	if _, ok := x.byDomain[h.Registrable]; ok {
		return Result{}, false // the owner's own domain
	}
	found := func(reason Reason, t int32) (Result, bool) {
		tg := &x.targets[t]
		return Result{Verdict: Block, Reason: reason, Matched: tg.domain, Source: tg.source}, true
	}
	label := h.Label
	var sk [4 * maxLabel]byte
	if ts := x.bySkeleton[string(appendSkeleton(sk[:0], unicodeLabel(h)))]; len(ts) > 0 {
		for _, t := range ts {
			if x.targets[t].label != label {
				return found(ReasonConfusable, t)
			}
		}
	}
	if ts := x.byLabel[label]; len(ts) > 0 {
		// Often the same owner's other domain (balancer.fi and
		// balancer.finance): a warning, not a block.
		r, _ := found(ReasonOtherSuffix, ts[0])
		r.Verdict = Warn
		return r, true
	}
	if t, ok := x.misspelt(label); ok {
		return found(ReasonSpelling, t)
	}
	if t, ok := x.embedded(h); ok {
		return found(ReasonEmbedded, t)
	}
	if t, ok := x.combo(label); ok {
		return found(ReasonCombo, t)
	}
	return Result{}, false
}

// misspelt finds a target label within its tolerance of label: both
// share a deletion variant (symmetric deletion), and the optimal string
// alignment distance (edits and adjacent swaps) confirms it.
func (x *index) misspelt(label string) (int32, bool) {
	if x.maxTol == 0 || len(label) > maxLabel {
		return 0, false
	}
	// Every deletion variant's hash is probed in a flat set first; only a
	// hit builds the variant and looks it up (a hash collision costs one
	// map lookup, never a miss).
	var pre [maxLabel + 1]uint64
	var pow [maxLabel + 1]uint64
	pow[0] = 1
	for i := range len(label) {
		pre[i+1] = pre[i]*hashBase + uint64(label[i])
		pow[i+1] = pow[i] * hashBase
	}
	n := len(label)
	sub := func(a, b int) uint64 { return pre[b] - pre[a]*pow[b-a] } // hash of label[a:b]
	try := func(h uint64, variant func([]byte) []byte) (int32, bool) {
		if !x.deleteHashes.has(h) {
			return 0, false
		}
		var buf [maxLabel]byte
		for _, t := range x.deletes[string(variant(buf[:0]))] {
			tg := &x.targets[t]
			if d := osa(label, tg.label, tg.tolerance); d > 0 && d <= tg.tolerance {
				return t, true
			}
		}
		return 0, false
	}
	if t, ok := try(pre[n], func(b []byte) []byte { return append(b, label...) }); ok {
		return t, true
	}
	two := x.maxTol >= 2 && x.twoFrom <= n
	for i := range n {
		if i > 0 && label[i] == label[i-1] {
			continue // the same variant as deleting label[i-1]
		}
		h := pre[i]*pow[n-1-i] + sub(i+1, n)
		if t, ok := try(h, func(b []byte) []byte { return append(append(b, label[:i]...), label[i+1:]...) }); ok {
			return t, true
		}
		if !two {
			continue
		}
		for j := i + 1; j < n; j++ {
			if j > i+1 && label[j] == label[j-1] {
				continue
			}
			h := pre[i]*pow[n-2-i] + sub(i+1, j)*pow[n-1-j] + sub(j+1, n)
			if t, ok := try(h, func(b []byte) []byte {
				return append(append(append(b, label[:i]...), label[i+1:j]...), label[j+1:]...)
			}); ok {
				return t, true
			}
		}
	}
	return 0, false
}

// hashBase is the base of the polynomial hash of deletion variants.
const hashBase = 0x100000001b3

func hashOf(s string) uint64 {
	var h uint64
	for i := 0; i < len(s); i++ {
		h = h*hashBase + uint64(s[i])
	}
	return h
}

// hashSet is a filter of 64-bit hashes: one bit each in a table of 32
// bits per key, small enough to stay in a core's cache. A key it holds
// always tests true; another tests true about one time in 32.
type hashSet struct {
	bits []uint64
	mask uint64
}

func newHashSet(keys []uint64) hashSet {
	size := 64
	for size < 32*len(keys) {
		size *= 2
	}
	s := hashSet{bits: make([]uint64, size/64), mask: uint64(size - 1)}
	for _, k := range keys {
		i := mix(k) & s.mask
		s.bits[i/64] |= 1 << (i % 64)
	}
	return s
}

func (s *hashSet) has(k uint64) bool {
	if len(s.bits) == 0 {
		return false
	}
	i := mix(k) & s.mask
	return s.bits[i/64]&(1<<(i%64)) != 0
}

// mix spreads a polynomial hash's bits over the table's index.
func mix(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	return k
}

// embedded finds a target domain written as whole labels in front of
// h's registrable domain ("app.example.com.evil.io").
func (x *index) embedded(h Host) (int32, bool) {
	if len(h.Name) == len(h.Registrable) {
		return 0, false
	}
	sub := h.Name[:len(h.Name)-len(h.Registrable)-1]
	for start := 0; start < len(sub); {
		for end := start; end <= len(sub); end++ {
			if end == len(sub) || sub[end] == '.' {
				if t, ok := x.byDomain[sub[start:end]]; ok {
					return t, true
				}
			}
		}
		dot := strings.IndexByte(sub[start:], '.')
		if dot < 0 {
			break
		}
		start += dot + 1
	}
	return 0, false
}

// combo finds a target label in label with a hyphenated word or an
// unhyphenated word added ("example-app", "myexample", "exampleapp").
func (x *index) combo(label string) (int32, bool) {
	if strings.IndexByte(label, '-') >= 0 {
		for part := range strings.SplitSeq(label, "-") {
			if len(part) >= hyphenMin {
				if ts := x.byLabel[part]; len(ts) > 0 {
					return ts[0], true
				}
			}
		}
	}
	for _, n := range x.comboLens {
		if n >= len(label) {
			break
		}
		if ts := x.byLabel[label[:n]]; len(ts) > 0 {
			return ts[0], true
		}
		if ts := x.byLabel[label[len(label)-n:]]; len(ts) > 0 {
			return ts[0], true
		}
	}
	return 0, false
}

// osa is the optimal string alignment distance of a and b (insertions,
// deletions, substitutions and swaps of adjacent letters), or max+1 once
// it exceeds max.
func osa(a, b string, max int) int {
	if d := len(a) - len(b); d > max || -d > max {
		return max + 1
	}
	if len(a) > 64 || len(b) > 64 {
		return max + 1
	}
	var rows [3][65]int
	prev2, prev, cur := &rows[0], &rows[1], &rows[2]
	for j := 0; j <= len(b); j++ {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		low := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			low = min(low, v)
		}
		if low > max {
			return max + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// unicodeLabel is h's registrable label as a user reads it.
func unicodeLabel(h Host) string {
	if h.Unicode == h.Name {
		return h.Label
	}
	// Unicode has the same labels as Name, decoded.
	n := strings.Count(h.Registrable, ".") + 1
	labels := strings.Split(h.Unicode, ".")
	if len(labels) < n {
		return h.Label
	}
	return labels[len(labels)-n]
}

// asciiSkeleton is UTS #39's skeleton of each ASCII character (most are
// themselves; "m" is "rn", "0" is "O", "1" and "I" are "l").
var asciiSkeleton = func() (t [128]string) {
	for c := range t {
		t[c] = strings.ToLower(confusables.Skeleton(string(rune(c))))
	}
	return t
}()

// skeleton is UTS #39's skeleton of s (with the confusables data of
// Unicode 13), lowercased as domain names are.
func skeleton(s string) string { return string(appendSkeleton(nil, s)) }

// appendSkeleton appends s's skeleton to b, from a table for ASCII.
func appendSkeleton(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return append(b, strings.ToLower(confusables.Skeleton(s))...)
		}
	}
	for i := 0; i < len(s); i++ {
		b = append(b, asciiSkeleton[s[i]]...)
	}
	return b
}
