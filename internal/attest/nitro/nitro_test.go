package nitro

import (
	"os"
	"testing"
)

// The NSM exists only inside a Nitro enclave; elsewhere Open must fail cleanly.
func TestOpenFailsOutsideANitroEnclave(t *testing.T) {
	if _, err := os.Stat("/dev/nsm"); err == nil {
		t.Skip("/dev/nsm present: running inside a Nitro enclave")
	}
	p, err := Open()
	if err == nil || p != nil {
		t.Errorf("got (%v, %v), want (nil, an error)", p, err)
	}
}

func TestClosedProviderRefusesToAttest(t *testing.T) {
	p := &Provider{} // what Close leaves behind
	if err := p.Close(); err != nil {
		t.Errorf("Close: got %v, want nil", err)
	}
	if doc, err := p.Attest([]byte("nonce"), nil, nil); err == nil || doc != nil {
		t.Errorf("Attest: got (%d bytes, %v), want (nil, an error)", len(doc), err)
	}
}
