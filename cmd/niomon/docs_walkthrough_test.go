package main

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/witness"
	"github.com/niomon/niomon/secretd"
)

// The operators' docs mark their dev-mode walk-throughs with an HTML
// comment, which renders as nothing, on the line before a block:
//
//	<!-- walkthrough: NAME -->         a code block of commands, run in order
//	<!-- walkthrough: NAME prints -->  a code block: what the last command
//	                                   that keeps running prints once ready
//	<!-- walkthrough: NAME holds -->   a table whose first column names its
//	                                   data directory's entries
//
// Blocks with the same NAME in one doc are one walk-through. Production
// commands (vsock, Nitro, real relays) stay unmarked and are not run.

// walkthroughDocs are the docs whose walk-throughs run here. Each marks at
// least one, so that deleting a doc's markers cannot pass unnoticed.
var walkthroughDocs = []string{"niomon-operations.md", "secretd-operations.md", "disaster-recovery.md"}

// walkthroughBinaries are built once, and run where a walk-through says
// `go run ./cmd/X` or X.
var walkthroughBinaries = []string{"niomon", "secretd"}

// Bounds on waiting. A walk-through takes seconds; these only keep a
// hung process from hanging the test.
const (
	buildTimeout   = 5 * time.Minute // a cold build cache compiles every dependency
	readyTimeout   = 30 * time.Second
	commandTimeout = 30 * time.Second
)

// steps are the commands a walk-through may use, each run and checked as
// its doc says. A marked command that is not here fails the test, and so
// does a step that no doc marks any more.
var steps = map[string]func(w *walk, args []string){
	"secretd dev":                 (*walk).secretdDev,
	"secretd enclave":             (*walk).secretdEnclave,
	"secretd runner":              (*walk).secretdRunner,
	"secretd witness":             (*walk).secretdWitness,
	"secretd keygen":              (*walk).secretdKeygen,
	"secretd version":             (*walk).secretdVersion,
	"secretd ceremony holder-key": (*walk).holderKey,
	"niomon dev":                  (*walk).niomonDev,
	"niomon version":              (*walk).niomonVersion,
}

// placeholders are the words a command leaves to the reader, and where
// the test takes each from. Inside [optional] brackets a placeholder
// leaves the group out instead: the reader's choice.
var placeholders = map[string]func(w *walk) string{
	"B64": (*walk).clientKey, // a client key's public key, as secretd keygen prints it
}

// printConditions are the "(when)" notes after a "key: value" line that
// is printed only sometimes.
var printConditions = map[string]func(d *daemon) bool{
	"only when no --client-key is given": func(d *daemon) bool { return !slices.Contains(d.args, "--client-key") },
	"first start only":                   func(d *daemon) bool { return d.fresh },
}

// printedValues are the <descriptions> a "key: value" line gives instead
// of a value.
var printedValues = map[string]func(string) bool{
	"<base64>":                   func(v string) bool { return isBase64(v, 0) },
	"<base64 X25519 public key>": func(v string) bool { return isBase64(v, 32) },
}

// Every command of the dev-mode walk-throughs in the operators' docs runs
// as written and prints, makes and keeps what the docs say it does.
func TestDocs_TheDevWalkthroughsRunAsWritten(t *testing.T) {
	var all []*walkthrough
	used := map[string]bool{}
	for _, doc := range walkthroughDocs {
		wts := readWalkthroughs(t, doc)
		if len(wts) == 0 {
			t.Fatalf("docs/%s: got no <!-- walkthrough: NAME --> marker, want at least one", doc)
		}
		for _, wt := range wts {
			for _, c := range wt.commands {
				used[c.step] = true
			}
		}
		all = append(all, wts...)
	}
	for name := range steps {
		if !used[name] {
			t.Fatalf("no doc walks through %q any more: mark its block again, or drop it from steps", name)
		}
	}
	bins := buildWalkthroughBinaries(t)
	for _, wt := range all {
		t.Run(wt.doc+"#"+wt.name, func(t *testing.T) {
			t.Parallel()
			w := &walk{t: t, wt: wt, bins: bins, dir: t.TempDir(), ports: map[string]string{}, keyFiles: map[string]string{}}
			w.env = walkEnv(w.dir)
			w.play()
		})
	}
}

// walkthrough is one NAME's blocks in one doc.
type walkthrough struct {
	doc, name string
	commands  []docCommand
	prints    []string // nil without a prints block
	holds     []string // entry names, a directory's with a trailing "/"; nil without a holds block
}

// docCommand is one command line of a walk-through.
type docCommand struct {
	at    string // doc:line
	prog  string // a walkthroughBinaries name
	step  string // its key in steps
	words []word // after the program's name
}

// word is a word of a command; optional numbers its [bracketed] group.
type word struct {
	text     string
	optional int
}

var (
	markerRe       = regexp.MustCompile(`^<!-- walkthrough: ([a-z0-9-]+)(?: (prints|holds))? -->$`)
	anyMarkerRe    = regexp.MustCompile(`(?i)<!--\s*walkthrough`)
	keyLineRe      = regexp.MustCompile(`^([a-z0-9_]+): (<[^>]*>|\S+)(?:\s{2,}\((.+)\))?$`)
	machineRe      = regexp.MustCompile(`^[a-z0-9_]+: \S`)
	placeholderRe  = regexp.MustCompile(`^<[^>]+>$|^[A-Z][A-Z0-9_]*$`)
	loopbackRe     = regexp.MustCompile(`\b(127\.0\.0\.1|localhost):(\d+)\b`)
	tableNameRe    = regexp.MustCompile("^`([^`]+)`$")
	ethereumLineRe = regexp.MustCompile(`(?m)^ethereum\s+0x[0-9a-fA-F]{40}\s`)
)

// readWalkthroughs parses the marked blocks of docs/doc.
func readWalkthroughs(t *testing.T, doc string) []*walkthrough {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", doc))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var out []*walkthrough
	byName := map[string]*walkthrough{}
	for i, line := range lines {
		if !anyMarkerRe.MatchString(line) {
			continue
		}
		at := fmt.Sprintf("docs/%s:%d", doc, i+1)
		m := markerRe.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			t.Fatalf("%s: got %q, want <!-- walkthrough: NAME -->, or with prints or holds after NAME", at, strings.TrimSpace(line))
		}
		wt := byName[m[1]]
		if wt == nil {
			wt = &walkthrough{doc: doc, name: m[1]}
			byName[m[1]] = wt
			out = append(out, wt)
		}
		body, table := blockAfter(lines, i+1, len(line)-len(strings.TrimLeft(line, " ")))
		switch kind := m[2]; {
		case body == nil:
			t.Fatalf("%s: got no code block or table after the marker, want one", at)
		case table != (kind == "holds"):
			t.Fatalf("%s: got table=%v after a %q marker; want a table after a holds marker, a code block after any other", at, table, m[0])
		case kind == "":
			wt.commands = append(wt.commands, commandsOf(t, at, body)...)
		case kind == "prints" && wt.prints == nil:
			wt.prints = body
		case kind == "holds" && wt.holds == nil:
			wt.holds = tableNames(t, at, body)
		default:
			t.Fatalf("%s: a second %s block for %q; want one", at, kind, m[1])
		}
	}
	for _, wt := range out {
		if len(wt.commands) == 0 {
			t.Fatalf("docs/%s: walk-through %q has no commands block", doc, wt.name)
		}
	}
	return out
}

// blockAfter returns the code block (fenced, or indented 4 beyond the
// marker) or table that follows line from, after blank lines; nil if
// there is none.
func blockAfter(lines []string, from, indent int) (body []string, table bool) {
	j := from
	for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
		j++
	}
	if j == len(lines) {
		return nil, false
	}
	lead := func(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }
	first := strings.TrimSpace(lines[j])
	switch {
	case strings.HasPrefix(first, "```"):
		pad := lead(lines[j])
		for j++; j < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[j]), "```"); j++ {
			body = append(body, lines[j][min(pad, lead(lines[j])):])
		}
		return body, false
	case strings.HasPrefix(first, "|"):
		for ; j < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[j]), "|"); j++ {
			body = append(body, strings.TrimSpace(lines[j]))
		}
		return body, true
	case lead(lines[j]) >= indent+4:
		pad := indent + 4
		for ; j < len(lines) && (strings.TrimSpace(lines[j]) == "" || lead(lines[j]) >= pad); j++ {
			body = append(body, lines[j][min(pad, lead(lines[j])):])
		}
		for len(body) > 0 && strings.TrimSpace(body[len(body)-1]) == "" {
			body = body[:len(body)-1]
		}
		return body, false
	}
	return nil, false
}

// commandsOf parses a commands block: one command a line, a trailing
// backslash continuing it on the next.
func commandsOf(t *testing.T, at string, body []string) []docCommand {
	t.Helper()
	var out []docCommand
	cont := ""
	for _, line := range body {
		line = strings.TrimSpace(line)
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cont += s + " "
			continue
		}
		if line = cont + line; strings.TrimSpace(line) != "" {
			out = append(out, withStep(t, commandOf(t, at, line), line))
		}
		cont = ""
	}
	if cont != "" {
		t.Fatalf("%s: the block ends in a continuation: %q", at, cont)
	}
	return out
}

// commandOf parses one command line: the program (as `go run ./cmd/X` or
// X), then its words, with [optional groups] numbered.
func commandOf(t *testing.T, at, line string) docCommand {
	t.Helper()
	f := strings.Fields(line)
	c := docCommand{at: at}
	switch {
	case len(f) >= 3 && f[0] == "go" && f[1] == "run" && slices.Contains(walkthroughBinaries, strings.TrimPrefix(f[2], "./cmd/")):
		c.prog, f = strings.TrimPrefix(f[2], "./cmd/"), f[3:]
	case len(f) >= 1 && slices.Contains(walkthroughBinaries, f[0]):
		c.prog, f = f[0], f[1:]
	default:
		t.Fatalf("%s: %q runs none of %v", at, line, walkthroughBinaries)
	}
	group, groups := 0, 0
	for _, tok := range f {
		if s, ok := strings.CutPrefix(tok, "["); ok {
			if group != 0 {
				t.Fatalf("%s: %q nests [optional] groups", at, line)
			}
			groups++
			group, tok = groups, s
		}
		closes := false
		for _, end := range []string{"]...", "]"} {
			if s, ok := strings.CutSuffix(tok, end); ok && !closes {
				tok, closes = s, true
			}
		}
		c.words = append(c.words, word{tok, group})
		if closes {
			if group == 0 {
				t.Fatalf("%s: %q closes a group it did not open", at, line)
			}
			group = 0
		}
	}
	if group != 0 {
		t.Fatalf("%s: %q leaves a [group open", at, line)
	}
	return c
}

// withStep names the step that runs c: the longest known command,
// "secretd ceremony holder-key" before "secretd ceremony".
func withStep(t *testing.T, c docCommand, line string) docCommand {
	t.Helper()
	for n := min(2, len(c.words)); n >= 1 && c.step == ""; n-- {
		name := c.prog
		for _, w := range c.words[:n] {
			name += " " + w.text
		}
		if _, ok := steps[name]; ok {
			c.step = name
		}
	}
	if c.step == "" {
		t.Fatalf("%s: %q is not a command the test knows: add it to steps, with what its doc promises", c.at, line)
	}
	return c
}

// tableNames reads a holds table: the first column of each row after the
// header is one `name`.
func tableNames(t *testing.T, at string, rows []string) []string {
	t.Helper()
	var names []string
	for i, row := range rows {
		cell := strings.TrimSpace(strings.Split(strings.Trim(row, "|"), "|")[0])
		if i == 0 || strings.Trim(cell, "-: ") == "" {
			continue // the header, and the line under it
		}
		m := tableNameRe.FindStringSubmatch(cell)
		if m == nil {
			t.Fatalf("%s: a holds row's first cell is %q; want one `name` (a directory's ending in /)", at, cell)
		}
		names = append(names, m[1])
	}
	slices.Sort(names)
	return names
}

func isPlaceholder(s string) bool {
	return placeholderRe.MatchString(s) || strings.Contains(s, "…")
}

func isBase64(s string, size int) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(b) > 0 && (size == 0 || len(b) == size)
}

// binaries are the walk-throughs' programs, built once.
type binaries struct {
	dir  string
	pcr0 map[string]string // program → the PCR0 a dev enclave run from it attests, hex
}

// buildWalkthroughBinaries builds the binaries as `go run` does: without
// version-control stamps (which `secretd version` reports).
func buildWalkthroughBinaries(t *testing.T) *binaries {
	t.Helper()
	b := &binaries{dir: t.TempDir(), pcr0: map[string]string{}}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	args := []string{"build", "-buildvcs=false", "-o", b.dir + string(filepath.Separator)}
	for _, name := range walkthroughBinaries {
		args = append(args, "./cmd/"+name)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, name := range walkthroughBinaries {
		f, err := os.ReadFile(filepath.Join(b.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		// A dev enclave's PCR0 is its executable's SHA-384
		// (docs/secretd-operations.md, "Which build is running").
		sum := sha512.Sum384(f)
		b.pcr0[name] = hex.EncodeToString(sum[:])
	}
	return b
}

// walkEnv is the environment of a walk-through's processes: this one's,
// with a home of their own and no NIOMON_* setting of the developer's.
func walkEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NIOMON_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
}

// walk is one walk-through being run, in a directory of its own.
type walk struct {
	t        *testing.T
	wt       *walkthrough
	bins     *binaries
	dir      string // the working directory: relative paths land here
	env      []string
	ports    map[string]string // a port the doc names → the free one used
	daemons  []*daemon         // running, in the order they started
	last     *daemon           // the last started
	after    []func()          // checks once the daemons have stopped
	keyFiles map[string]string // key file → the public key printed for it
	client   string            // the B64 placeholder's value, once made
}

// daemon is a walk-through's process that keeps running.
type daemon struct {
	*proc
	prog  string
	args  []string
	data  string   // its data directory, relative to the walk's, or ""
	fresh bool     // the data directory did not exist before it started
	out   []string // what it printed on stdout until ready
}

// play runs the walk-through's commands in order, checks what it prints,
// stops what it started and checks what is left.
func (w *walk) play() {
	for _, c := range w.wt.commands {
		steps[c.step](w, w.args(c))
	}
	if w.wt.prints != nil {
		if w.last == nil {
			w.t.Fatalf("%s: a prints block, but no command that keeps running", w.wt.name)
		}
		w.checkPrints(w.last)
	}
	last := w.last
	w.stopAll()
	if w.wt.holds != nil {
		if last == nil || last.data == "" {
			w.t.Fatalf("%s: a holds block, but no command with a data directory", w.wt.name)
		}
		w.checkHolds(last)
	}
	for _, f := range w.after {
		f()
	}
}

// args expands a command's words: an [optional] group that holds a
// placeholder is left out, a placeholder outside one is replaced, and
// every loopback port is moved to a free one (the same for the same doc
// port), so that a run never meets a server the developer runs on the
// documented ports.
func (w *walk) args(c docCommand) []string {
	drop := map[int]bool{}
	for _, wd := range c.words {
		if wd.optional != 0 && isPlaceholder(wd.text) {
			drop[wd.optional] = true
		}
	}
	var out []string
	for _, wd := range c.words {
		if drop[wd.optional] {
			continue
		}
		text := wd.text
		if isPlaceholder(text) {
			value, ok := placeholders[strings.Trim(text, "<>")]
			if !ok {
				w.t.Fatalf("%s: %q is left to the reader, and the test knows no value for it: add it to placeholders", c.at, text)
			}
			text = value(w)
		}
		out = append(out, w.mapPorts(text))
	}
	return out
}

func (w *walk) mapPorts(s string) string {
	return loopbackRe.ReplaceAllStringFunc(s, func(m string) string {
		sub := loopbackRe.FindStringSubmatch(m)
		return sub[1] + ":" + w.port(sub[2])
	})
}

func (w *walk) port(doc string) string {
	if p, ok := w.ports[doc]; ok {
		return p
	}
	taken := map[string]bool{}
	for _, p := range w.ports {
		taken[p] = true
	}
	for {
		// Two doc ports must not share one free port.
		if _, p, _ := net.SplitHostPort(freePort(w.t)); !taken[p] {
			w.ports[doc] = p
			return p
		}
	}
}

// start starts prog in the walk's directory.
func (w *walk) start(prog string, args []string) *proc {
	w.t.Helper()
	cmd := exec.Command(filepath.Join(w.bins.dir, prog), args...)
	cmd.Dir, cmd.Env = w.dir, w.env
	return startCmd(w.t, cmd)
}

// startDaemon starts a command that keeps running and reads its stdout
// until ready says a line is its last before it serves.
func (w *walk) startDaemon(prog string, args []string, data string, ready func(line string) bool) *daemon {
	w.t.Helper()
	d := &daemon{prog: prog, args: args, data: data}
	if data != "" {
		_, err := os.Stat(filepath.Join(w.dir, data))
		d.fresh = errors.Is(err, os.ErrNotExist)
	}
	d.proc = w.start(prog, args)
	w.daemons = append(w.daemons, d)
	w.last = d
	timeout := time.After(readyTimeout)
	for {
		select {
		case line, ok := <-d.lines:
			if !ok {
				<-d.done
				w.t.Fatalf("%s exited (%v) before it was ready; stdout:\n%s\nstderr:\n%s", cmdline(prog, args), d.err, d.stdout, d.stderr)
			}
			d.out = append(d.out, line)
			if ready(line) {
				return d
			}
		case <-timeout:
			w.t.Fatalf("%s: not ready after %v; stdout:\n%s\nstderr:\n%s", cmdline(prog, args), readyTimeout, d.stdout, d.stderr)
		}
	}
}

// stopAll stops the running commands, the last started first, with
// Ctrl-C as the docs say; each must exit cleanly and take its child
// processes with it, and leave its data directory private.
func (w *walk) stopAll() {
	w.t.Helper()
	for i := len(w.daemons) - 1; i >= 0; i-- {
		d := w.daemons[i]
		kids := children(d.cmd.Process.Pid)
		d.stop()
		for _, k := range kids {
			if alive(k) {
				w.t.Fatalf("%s: child process %d still runs after Ctrl-C; want it stopped too", cmdline(d.prog, d.args), k)
			}
		}
		if d.data == "" {
			continue
		}
		fi, err := os.Stat(filepath.Join(w.dir, d.data))
		if err != nil {
			w.t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o700 {
			w.t.Fatalf("%s: data directory %s has mode %04o, want 0700", d.prog, d.data, got)
		}
	}
	w.daemons = nil
}

// run runs prog to completion in the walk's directory.
func (w *walk) run(stdin io.Reader, prog string, args ...string) (stdout, stderr string, code int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(w.bins.dir, prog), args...)
	cmd.Dir, cmd.Env, cmd.Stdin, cmd.WaitDelay = w.dir, w.env, stdin, time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		code = ee.ExitCode()
	default:
		w.t.Fatalf("%s: %v; stderr:\n%s", cmdline(prog, args), err, &errOut)
	}
	return out.String(), errOut.String(), code
}

// mustRun runs prog, which must succeed.
func (w *walk) mustRun(stdin io.Reader, prog string, args ...string) string {
	w.t.Helper()
	out, errOut, code := w.run(stdin, prog, args...)
	if code != 0 {
		w.t.Fatalf("%s: exit code %d, want 0; stderr:\n%s", cmdline(prog, args), code, errOut)
	}
	return out
}

// checkPrints compares what d printed until ready with the prints block:
// "key: value" lines by key and value (a "(when)" note making a line
// conditional), any other block line for line.
func (w *walk) checkPrints(d *daemon) {
	w.t.Helper()
	doc := w.wt.prints
	machine := true
	for _, l := range doc {
		machine = machine && machineRe.MatchString(l)
	}
	if !machine {
		want := make([]string, len(doc))
		for i, l := range doc {
			// HEX is the dev PCR0 of the enclave, which is the binary that
			// runs (niomon dev runs "niomon secretd dev").
			want[i] = strings.ReplaceAll(w.mapPorts(l), "HEX", w.bins.pcr0[d.prog])
		}
		if !slices.Equal(d.out, want) {
			i := 0
			for i < min(len(d.out), len(want)) && d.out[i] == want[i] {
				i++
			}
			got, exp := "(nothing)", "(nothing)"
			if i < len(d.out) {
				got = d.out[i]
			}
			if i < len(want) {
				exp = want[i]
			}
			w.t.Fatalf("%s printed as its line %d:\n%s\nwant (docs/%s):\n%s\nall it printed:\n%s", cmdline(d.prog, d.args), i+1, got, w.wt.doc, exp, strings.Join(d.out, "\n"))
		}
		return
	}
	var wantKeys, templates, gotKeys []string
	for _, l := range doc {
		m := keyLineRe.FindStringSubmatch(l)
		if m == nil {
			w.t.Fatalf("docs/%s: prints line %q: want key: value, then (when) if it is printed only sometimes", w.wt.doc, l)
		}
		if m[3] != "" {
			when, ok := printConditions[m[3]]
			if !ok {
				w.t.Fatalf("docs/%s: prints line %q: the test knows no condition %q: add it to printConditions", w.wt.doc, l, m[3])
			}
			if !when(d) {
				continue
			}
		}
		wantKeys, templates = append(wantKeys, m[1]), append(templates, w.mapPorts(m[2]))
	}
	for _, l := range d.out {
		k, _, _ := strings.Cut(l, ": ")
		gotKeys = append(gotKeys, k)
	}
	if !slices.Equal(gotKeys, wantKeys) {
		w.t.Fatalf("%s printed the keys %q, want %q (docs/%s); stdout:\n%s", cmdline(d.prog, d.args), gotKeys, wantKeys, w.wt.doc, strings.Join(d.out, "\n"))
	}
	for i, l := range d.out {
		_, v, _ := strings.Cut(l, ": ")
		if tmpl := templates[i]; strings.HasPrefix(tmpl, "<") {
			valid, ok := printedValues[tmpl]
			if !ok {
				w.t.Fatalf("docs/%s: the test knows no printed value %q: add it to printedValues", w.wt.doc, tmpl)
			}
			if !valid(v) {
				w.t.Fatalf("%s printed %q, want %s", d.prog, l, tmpl)
			}
		} else if v != tmpl {
			w.t.Fatalf("%s printed %q, want %s: %s", d.prog, l, wantKeys[i], tmpl)
		}
	}
}

// checkHolds compares d's data directory with the holds table.
func (w *walk) checkHolds(d *daemon) {
	w.t.Helper()
	entries, err := os.ReadDir(filepath.Join(w.dir, d.data))
	if err != nil {
		w.t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			name += "/"
		}
		got = append(got, name)
	}
	slices.Sort(got)
	if !slices.Equal(got, w.wt.holds) {
		w.t.Fatalf("%s holds %q, want %q (docs/%s)", d.data, got, w.wt.holds, w.wt.doc)
	}
}

// refusesAnOpenDataDir starts prog again on its data directory opened to
// others: both operations docs promise a refusal that names the chmod
// that fixes it.
func (w *walk) refusesAnOpenDataDir(prog string, args []string, data string) {
	w.t.Helper()
	path := filepath.Join(w.dir, data)
	if err := os.Chmod(path, 0o750); err != nil {
		w.t.Fatal(err)
	}
	defer os.Chmod(path, 0o700)
	p := w.start(prog, args)
	select {
	case <-p.done:
	case <-time.After(commandTimeout):
		w.t.Fatalf("%s: still runs on a data directory of mode 0750; want a refusal", cmdline(prog, args))
	}
	if want := "chmod 700 " + data; p.err == nil || !strings.Contains(p.stderr.String(), want) {
		w.t.Fatalf("%s on a data directory of mode 0750: got %v, stderr %q; want a failure that says %q", prog, p.err, p.stderr, want)
	}
}

// dial connects to a cluster as a client with the key in keyFile,
// checking the enclave's dev attestation against the PCR0 of the binary
// it runs from, and its identity.
func (w *walk) dial(addr, identity, keyFile, prog string) {
	w.t.Helper()
	key, err := secretd.LoadKeyFile(filepath.Join(w.dir, keyFile))
	if err != nil {
		w.t.Fatal(err)
	}
	pcr0, _ := hex.DecodeString(w.bins.pcr0[prog])
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	c, err := secretd.Dial(ctx, addr, secretd.Options{Identity: identity, Key: key, PoolSize: 1,
		Attestation: &secretd.AttestationPolicy{AllowDev: true, PCRs: map[int][]byte{0: pcr0}}})
	if err != nil {
		w.t.Fatalf("dialing %s as %s: %v; want a session", addr, keyFile, err)
	}
	defer c.Close()
	info, err := c.Info(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	if got := base64.StdEncoding.EncodeToString(info.ClusterIdentity); got != identity {
		w.t.Fatalf("the cluster at %s says its identity is %s, want %s", addr, got, identity)
	}
}

// clientKey makes a client key, as the doc's keygen does, for a command
// that needs one on its allow-list.
func (w *walk) clientKey() string {
	if w.client == "" {
		out := w.mustRun(nil, "secretd", "keygen", "--out", "client.key")
		w.client = printed(w.t, out, "public_key")
		w.keyFiles["client.key"] = w.client
	}
	return w.client
}

// cmdline is a command as a message shows it.
func cmdline(prog string, args []string) string {
	return strings.Join(append([]string{prog}, args...), " ")
}

// flagValue is the value of --name in args, or def.
func flagValue(args []string, name, def string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return def
}

// printed is the value of the one "key: value" line with key in out.
func printed(t *testing.T, out, key string) string {
	t.Helper()
	var values []string
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, key+": "); ok {
			values = append(values, v)
		}
	}
	if len(values) != 1 {
		t.Fatalf("got %d %q lines in %q, want 1", len(values), key, out)
	}
	return values[0]
}

// The steps. Each says where its doc promises what it checks.

// secretd dev (secretd-operations.md, "Dev cluster").
func (w *walk) secretdDev(args []string) {
	data := flagValue(args, "--data", filepath.Join(".data", "secretd"))
	isIdentity := func(l string) bool { return strings.HasPrefix(l, "cluster_identity: ") }
	d := w.startDaemon("secretd", args, data, isIdentity)
	out := strings.Join(d.out, "\n")
	identity := printed(w.t, out, "cluster_identity")
	// The dev client key it made is on the allow-list.
	w.dial(printed(w.t, out, "listen"), identity, printed(w.t, out, "dev_client_key_file"), "secretd")
	w.after = append(w.after, func() {
		// "Restarting with the same --data gives the same cluster identity."
		again := w.startDaemon("secretd", args, data, isIdentity)
		if w.wt.prints != nil {
			w.checkPrints(again)
		}
		if got := printed(w.t, strings.Join(again.out, "\n"), "cluster_identity"); got != identity {
			w.t.Fatalf("after a restart: cluster_identity %s, want %s", got, identity)
		}
		w.stopAll()
		w.refusesAnOpenDataDir("secretd", args, data)
	})
}

// secretd enclave --dev (secretd-operations.md, "The two halves
// separately"): it serves once its socket exists.
func (w *walk) secretdEnclave(args []string) {
	addr := flagValue(args, "--listen", "")
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok || !slices.Contains(args, "--dev") {
		w.t.Fatalf("%s: a dev walk-through's enclave has --dev and listens on unix:PATH", cmdline("secretd", args))
	}
	d := &daemon{prog: "secretd", args: args}
	d.proc = w.start("secretd", args)
	w.daemons = append(w.daemons, d)
	deadline := time.Now().Add(readyTimeout)
	for {
		if fi, err := os.Stat(filepath.Join(w.dir, path)); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return
		}
		select {
		case <-d.done:
			w.t.Fatalf("secretd enclave exited (%v) before it listened on %s; stderr:\n%s", d.err, addr, d.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("secretd enclave: no socket at %s after %v; stderr:\n%s", path, readyTimeout, d.stderr)
		}
	}
}

// secretd runner (secretd-operations.md, "The two halves separately";
// disaster-recovery.md on --dev-genesis): listen:, then genesis_identity:
// on a new store, then cluster_identity: once the cluster exists.
func (w *walk) secretdRunner(args []string) {
	data := flagValue(args, "--data", "")
	devGenesis := slices.Contains(args, "--dev-genesis")
	if data == "" || !slices.Contains(args, "--dev") {
		w.t.Fatalf("%s: a dev walk-through's runner has --dev and --data", cmdline("secretd", args))
	}
	_, err := os.Stat(filepath.Join(w.dir, data))
	fresh := errors.Is(err, os.ErrNotExist)
	want := []string{"listen", "cluster_identity"}
	if fresh {
		want = []string{"listen", "genesis_identity", "cluster_identity"}
		if !devGenesis {
			want = want[:2] // it waits for a genesis ceremony
		}
	}
	d := w.startDaemon("secretd", args, data, func(l string) bool { return strings.HasPrefix(l, want[len(want)-1]+": ") })
	var keys []string
	for _, l := range d.out {
		k, v, _ := strings.Cut(l, ": ")
		keys = append(keys, k)
		if k != "listen" && !isBase64(v, 32) {
			w.t.Fatalf("runner printed %q, want a base64 X25519 public key", l)
		}
	}
	if !slices.Equal(keys, want) {
		w.t.Fatalf("runner printed %q, want the keys %q", d.out, want)
	}
	out := strings.Join(d.out, "\n")
	if got, wantAddr := printed(w.t, out, "listen"), flagValue(args, "--listen", ""); got != wantAddr {
		w.t.Fatalf("runner printed listen: %s, want the --listen address %s", got, wantAddr)
	}
	if !devGenesis {
		return
	}
	if printed(w.t, out, "genesis_identity") == printed(w.t, out, "cluster_identity") {
		w.t.Fatalf("the genesis identity %s was kept as the cluster identity; want a new one", printed(w.t, out, "cluster_identity"))
	}
	// "five dev holders whose identities and shares they keep in
	// DATA/dev-genesis"
	dir := filepath.Join(w.dir, data, "dev-genesis")
	holders, _ := filepath.Glob(filepath.Join(dir, "holder-*.agekey"))
	shares, _ := filepath.Glob(filepath.Join(dir, "genesis-*", "share-*.age"))
	if len(holders) != 5 || len(shares) != 5 {
		w.t.Fatalf("%s holds %d holder identities and %d shares, want 5 and 5", dir, len(holders), len(shares))
	}
	// Each --client-key is on the allow-list.
	for i, a := range args {
		if a != "--client-key" || i+1 == len(args) {
			continue
		}
		for file, pub := range w.keyFiles {
			if pub == args[i+1] {
				w.dial(printed(w.t, out, "listen"), printed(w.t, out, "cluster_identity"), file, "secretd")
			}
		}
	}
}

// secretd witness (secretd-operations.md, "Witnesses"): it prints
// witness_key: and listen:, and serves that key.
func (w *walk) secretdWitness(args []string) {
	d := w.startDaemon("secretd", args, "", func(l string) bool { return strings.HasPrefix(l, "listen: ") })
	out := strings.Join(d.out, "\n")
	key, addr := printed(w.t, out, "witness_key"), printed(w.t, out, "listen")
	if len(d.out) != 2 || !isBase64(key, 32) {
		w.t.Fatalf("witness printed %q, want witness_key: <base64 Ed25519 key> and listen: ADDR", d.out)
	}
	if want := flagValue(args, "--listen", ""); addr != want {
		w.t.Fatalf("witness printed listen: %s, want the --listen address %s", addr, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	served, err := witness.Info(ctx, addr)
	if err != nil {
		w.t.Fatal(err)
	}
	if got := base64.StdEncoding.EncodeToString(served); got != key {
		w.t.Fatalf("the witness at %s serves the key %s, want the printed %s", addr, got, key)
	}
}

// secretd keygen --out FILE | --show FILE (secretd-operations.md,
// "Witnesses", client keys): a new key file of mode 0600, never over an
// existing one, and its public_key: line, printed again by --show.
func (w *walk) secretdKeygen(args []string) {
	if file := flagValue(args, "--show", ""); file != "" {
		want, ok := w.keyFiles[file]
		if !ok {
			w.t.Fatalf("secretd keygen --show %s: no earlier step made %s", file, file)
		}
		if got := w.mustRun(nil, "secretd", args...); got != "public_key: "+want+"\n" {
			w.t.Fatalf("secretd keygen --show %s printed %q, want %q", file, got, "public_key: "+want+"\n")
		}
		return
	}
	file := flagValue(args, "--out", "")
	if file == "" {
		w.t.Fatalf("%s: want --out FILE or --show FILE", cmdline("secretd", args))
	}
	out := w.mustRun(nil, "secretd", args...)
	pub := printed(w.t, out, "public_key")
	if out != "public_key: "+pub+"\n" || !isBase64(pub, 32) {
		w.t.Fatalf("secretd keygen printed %q, want one line public_key: <base64 X25519 key>", out)
	}
	path := filepath.Join(w.dir, file)
	fi, err := os.Stat(path)
	if err != nil {
		w.t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		w.t.Fatalf("%s has mode %04o, want 0600", file, got)
	}
	before, _ := os.ReadFile(path)
	if _, _, code := w.run(nil, "secretd", args...); code == 0 {
		w.t.Fatalf("%s again: exit code 0, want a refusal to write over %s", cmdline("secretd", args), file)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		w.t.Fatalf("%s again changed %s; want it untouched", cmdline("secretd", args), file)
	}
	w.keyFiles[file] = pub
}

// buildLine is what a version line says of a `go run` build
// (secretd-operations.md, "Which build is running").
func buildLine(prog string) string {
	return prog + " (devel) (no revision recorded; " + runtime.Version() + ")"
}

// secretd version: the build, then dev_pcr0: the binary's SHA-384, then
// nitro_pcrs:.
func (w *walk) secretdVersion(args []string) {
	lines := strings.Split(strings.TrimSuffix(w.mustRun(nil, "secretd", args...), "\n"), "\n")
	want := []string{buildLine("secretd"), "dev_pcr0: " + w.bins.pcr0["secretd"]}
	if len(lines) != 3 || !slices.Equal(lines[:2], want) || !strings.HasPrefix(lines[2], "nitro_pcrs: ") {
		w.t.Fatalf("secretd version printed %q, want %q then a nitro_pcrs: line", lines, want)
	}
}

// niomon version: the build.
func (w *walk) niomonVersion(args []string) {
	if got, want := w.mustRun(nil, "niomon", args...), buildLine("niomon")+"\n"; got != want {
		w.t.Fatalf("niomon version printed %q, want %q", got, want)
	}
}

// secretd ceremony holder-key (disaster-recovery.md, "Genesis", step 1):
// it prints the line holder: NAME=age1…=…, the recipient and the signing
// key.
func (w *walk) holderKey(args []string) {
	out := w.mustRun(nil, "secretd", args...)
	recipient, signing := printed(w.t, out, "recipient"), printed(w.t, out, "signing_key")
	if got, want := printed(w.t, out, "holder"), "NAME="+recipient+"="+signing; got != want || !strings.HasPrefix(recipient, "age1") || !isBase64(signing, 32) {
		w.t.Fatalf("holder-key printed %q; want holder: NAME=age1…=<base64 Ed25519 key>, its recipient and signing key", out)
	}
	if _, err := os.Stat(filepath.Join(w.dir, flagValue(args, "--out", ""))); err != nil {
		w.t.Fatalf("holder-key wrote no identity: %v", err)
	}
}

// niomon dev (niomon-operations.md, "Development"): once ready, the
// terminal: line it prints signs a new user up with a code from the dev
// mailbox, and a restart keeps the user and the wallet.
func (w *walk) niomonDev(args []string) {
	data := flagValue(args, "--data", filepath.Join(".data", "niomon"))
	isReady := func(l string) bool { return strings.TrimSpace(l) == "Ctrl-C stops everything." }
	d := w.startDaemon("niomon", args, data, isReady)
	var open, terminal string
	for _, l := range d.out {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "open:"); ok {
			open = strings.Fields(v)[0]
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "terminal:"); ok {
			terminal = strings.TrimSpace(v)
		}
	}
	if open == "" || terminal == "" {
		w.t.Fatalf("niomon dev printed %q; want open: and terminal: lines", d.out)
	}
	// The printed command runs as it is, ports and all.
	c := commandOf(w.t, "niomon dev's terminal: line", terminal)
	var cargs []string
	for _, wd := range c.words {
		if wd.optional != 0 || isPlaceholder(wd.text) {
			w.t.Fatalf("the terminal: line %q leaves %q to the reader; want a command that runs as printed", terminal, wd.text)
		}
		cargs = append(cargs, wd.text)
	}
	email := cargs[len(cargs)-1]
	mailbox := &devStack{url: strings.TrimRight(open, "/")}
	pr, pw := io.Pipe()
	defer pr.Close()
	go func() {
		// The code, as a person would type it at the prompt.
		code, err := mailbox.mailCode(email, 1)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.Write([]byte(code + "\n"))
		pw.Close()
	}()
	addresses := w.mustRun(pr, c.prog, cargs...)
	if !ethereumLineRe.MatchString(addresses) {
		w.t.Fatalf("%s printed %q; want the new wallet's addresses, an ethereum one among them", terminal, addresses)
	}
	w.after = append(w.after, func() {
		// "A restart with the same --data keeps users, sessions (the token
		// key is the same) and wallets."
		again := w.startDaemon("niomon", args, data, isReady)
		if w.wt.prints != nil {
			w.checkPrints(again)
		}
		if got := w.mustRun(nil, "niomon", "client", "addresses"); got != addresses {
			w.t.Fatalf("after a restart, niomon client addresses printed:\n%s\nwant:\n%s", got, addresses)
		}
		w.stopAll()
		w.refusesAnOpenDataDir("niomon", args, data)
	})
}
