// Package release holds the checks of what Niomon ships: the binaries'
// dependencies and their licenses, and the repository's own license.
package release

import (
	"bytes"
	"crypto/sha512"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// binaries are the commands Niomon ships.
var binaries = []string{"niomon", "secretd", "secretd-enclave"}

// notShipped may be used by tests and tools, never linked into a binary:
// go-ethereum is LGPL-3.0 (a test oracle here), esbuild builds the web
// bundle.
var notShipped = []string{"github.com/ethereum/go-ethereum", "github.com/evanw/esbuild"}

// licenses are those a dependency of an Apache-2.0 binary may carry, as
// their texts read.
var licenses = []struct{ name, marker string }{
	{"Apache-2.0", "Apache License"},
	{"MIT", "Permission is hereby granted, free of charge"},
	{"BSD", "Redistribution and use in source and binary forms"},
	{"ISC", "Permission to use, copy, modify, and"},
	{"MPL-2.0", "Mozilla Public License Version 2.0"},
	{"Unlicense", "This is free and unencumbered software released into the public domain"},
}

var copyleft = regexp.MustCompile(`GNU (LESSER |AFFERO )?GENERAL PUBLIC LICENSE`)

// deps builds the commands and lists the modules each links, as
// `go version -m` reads them from the binary.
func deps(t *testing.T) map[string][]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string][]string{}
	for _, b := range binaries {
		bin := filepath.Join(dir, b)
		if msg, err := exec.Command("go", "build", "-o", bin, "../../cmd/"+b).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b, err, msg)
		}
		info, err := exec.Command("go", "version", "-m", bin).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(info), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "dep" {
				out[b] = append(out[b], f[1]+"@"+f[2])
			}
		}
		if len(out[b]) == 0 {
			t.Fatalf("%s links no module: go version -m read nothing", b)
		}
	}
	return out
}

func TestTheShippedBinariesLinkOnlyPermissivelyLicensedModules(t *testing.T) {
	all := deps(t)
	cache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for bin, mods := range all {
		for _, m := range mods {
			path, version, _ := strings.Cut(m, "@")
			for _, no := range notShipped {
				if path == no || strings.HasPrefix(path, no+"/") {
					t.Errorf("%s links %s, which must stay out of shipped binaries", bin, m)
				}
			}
			if seen[m] {
				continue
			}
			seen[m] = true
			dir := filepath.Join(strings.TrimSpace(string(cache)), escape(path)+"@"+version)
			name, text := licenseOf(dir)
			switch {
			case text == nil:
				t.Errorf("%s (in %s) has no license file in %s", m, bin, dir)
			case copyleft.Match(text):
				t.Errorf("%s (in %s) is under a GNU license (%s)", m, bin, name)
			case classify(text) == "":
				t.Errorf("%s (in %s): %s is none of the licenses an Apache-2.0 binary may link; look at it and add it here if it allows that", m, bin, name)
			}
		}
	}
	t.Logf("%d modules, each under Apache-2.0, MIT, BSD, ISC, MPL-2.0 or the Unlicense", len(seen))
}

func TestTheRepositoryIsApache2Licensed(t *testing.T) {
	b, err := os.ReadFile("../../LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("Apache License")) || !bytes.Contains(b, []byte("Version 2.0, January 2004")) {
		t.Fatal("LICENSE is not the Apache License 2.0")
	}
}

// escape is the module cache's case encoding: each capital letter becomes
// "!" and the letter in lower case.
func escape(path string) string {
	var b strings.Builder
	for _, r := range path {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// licenseOf reads a module's license file (LICENSE, LICENCE, COPYING,
// with any extension).
func licenseOf(dir string) (string, []byte) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil
	}
	for _, e := range entries {
		n := strings.ToUpper(e.Name())
		if !e.IsDir() && (strings.HasPrefix(n, "LICENSE") || strings.HasPrefix(n, "LICENCE") || strings.HasPrefix(n, "COPYING")) {
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
				return e.Name(), b
			}
		}
	}
	return "", nil
}

func classify(text []byte) string {
	flat := strings.Join(strings.Fields(string(text)), " ")
	for _, l := range licenses {
		if strings.Contains(flat, l.marker) {
			return l.name
		}
	}
	return ""
}

// secretd version prints the PCR0 a dev enclave run from that very file
// attests (the SHA-384 of the executable), the value a client pins.
func TestSecretdVersionPrintsTheDevMeasurementOfItsOwnExecutable(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "secretd")
	if msg, err := exec.Command("go", "build", "-o", bin, "../../cmd/secretd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("dev_pcr0: %x\n", sha512.Sum384(b))
	if !strings.HasPrefix(string(out), "secretd ") || !strings.Contains(string(out), want) || !strings.Contains(string(out), "nitro_pcrs: ") {
		t.Fatalf("secretd version says %q, want the module line, %q and the Nitro note", out, want)
	}
}
