package devattest

import (
	"testing"
	"time"

	"github.com/niomon/niomon/internal/attest"
)

// A dev enclave runs longer than one 3-hour leaf: Attest replaces the leaf once less than
// leafRenewBefore of it is left, so every document stays verifiable for at least that long.
func TestAttestRenewsTheLeafBeforeItExpires(t *testing.T) {
	// Far from the real clock, which New used for the first leaf.
	t0 := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	now := t0
	p, err := New(make([]byte, 48))
	if err != nil {
		t.Fatal(err)
	}
	p.now = func() time.Time { return now }

	steps := []struct {
		name  string
		at    time.Time
		renew bool
	}{
		{"first document, 30 days after New", t0, true},
		{"one hour later", t0.Add(time.Hour), false},
		{"just under leafRenewBefore left", t0.Add(leafValidity - leafRenewBefore + time.Second), true},
		{"clock stepped back before the leaf", t0, true},
	}
	var lastSerial string
	for _, s := range steps {
		now = s.at
		doc, err := p.Attest(nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := attest.Verify(doc, attest.Policy{
			Roots: Roots(),
			Now:   func() time.Time { return s.at.Add(leafRenewBefore) },
		})
		if err != nil {
			t.Fatalf("%s: Verify leafRenewBefore later: got %v, want nil", s.name, err)
		}
		serial := d.Certificate.SerialNumber.String()
		if renewed := serial != lastSerial; renewed != s.renew {
			t.Errorf("%s: leaf renewed: got %v, want %v", s.name, renewed, s.renew)
		}
		lastSerial = serial
	}
}
