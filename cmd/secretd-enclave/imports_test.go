package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The enclave image runs this binary, so what it links is the trusted
// computing base. It is the enclave package (whose imports
// internal/enclave/imports_test.go pins) and these, nothing more: no
// runner, no store, no database driver, no client.
var beyondTheEnclave = []string{
	"github.com/hf/nsm", // Nitro Security Module: attestation, randomness
	"github.com/hf/nsm/ioc",
	"github.com/hf/nsm/request",
	"github.com/hf/nsm/response",
	"github.com/mdlayher/socket", // vsock, the enclave's one socket in Nitro
	"github.com/mdlayher/vsock",
	"github.com/niomon/niomon/cmd/secretd-enclave",
	"github.com/niomon/niomon/internal/attest/devattest",
	"github.com/niomon/niomon/internal/attest/nitro",
	"github.com/niomon/niomon/internal/enclavecmd",
	"github.com/niomon/niomon/internal/sock",
	"golang.org/x/net/bpf", // mdlayher/socket
	"golang.org/x/sync/errgroup",
	"golang.org/x/sys/unix",
}

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestTheEnclaveBinaryLinksOnlyTheEnclaveAndItsSocket(t *testing.T) {
	enclave := deps(t, "github.com/niomon/niomon/internal/enclave")
	var extra []string
	for _, p := range deps(t, ".") {
		if !slices.Contains(enclave, p) && !slices.Contains(beyondTheEnclave, p) {
			extra = append(extra, p)
		}
	}
	if len(extra) > 0 {
		t.Fatalf("secretd-enclave links packages beyond the enclave's and its socket's:\n%s", strings.Join(extra, "\n"))
	}
}
