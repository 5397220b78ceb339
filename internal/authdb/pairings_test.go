package authdb

import (
	"fmt"
	"testing"
	"time"
)

func testPairings(t *testing.T, st storage) {
	d := st.open(t)
	alice, bob := mustActiveUser(t, d, "alice@example.com"), mustActiveUser(t, d, "bob@example.com")
	cred := []byte("a credential's CBOR")
	p, err := d.CreatePairing(ctx, alice.ID, "ABCDE12345", cred, "Chromium", t0, t0.Add(10*time.Minute))
	wantErr(t, "CreatePairing", err, nil)
	_, err = d.CreatePairing(ctx, alice.ID, "ABCDE12345", cred, "", t0, t0.Add(10*time.Minute))
	wantErr(t, "CreatePairing with a live code", err, ErrExists)
	_, err = d.CreatePairing(ctx, bob.ID, "ABCDE12345", cred, "", t0, t0.Add(10*time.Minute))
	wantErr(t, "CreatePairing of another user with the same code", err, nil)

	tests := []struct {
		name string
		get  func() (Pairing, error)
		want error
	}{
		{"by id", func() (Pairing, error) { return d.GetPairing(ctx, alice.ID, p.ID, t0) }, nil},
		{"by code", func() (Pairing, error) { return d.GetPairingByCode(ctx, alice.ID, "ABCDE12345", t0) }, nil},
		{"by id as another user", func() (Pairing, error) { return d.GetPairing(ctx, bob.ID, p.ID, t0) }, ErrNotFound},
		{"by a code with an I", func() (Pairing, error) { return d.GetPairingByCode(ctx, alice.ID, "ABCDI12345", t0) }, ErrInvalid},
		{"when expired", func() (Pairing, error) { return d.GetPairing(ctx, alice.ID, p.ID, t0.Add(10*time.Minute)) }, ErrNotFound},
	}
	for _, tc := range tests {
		got, err := tc.get()
		wantErr(t, tc.name, err, tc.want)
		if tc.want == nil {
			wantEqual(t, tc.name, got, p)
		}
	}

	wantErr(t, "ApprovePairing by another user", d.ApprovePairing(ctx, bob.ID, "ZZZZZ12345", []byte("{}"), t0), ErrNotFound)
	wantErr(t, "ApprovePairing", d.ApprovePairing(ctx, alice.ID, "ABCDE12345", []byte(`{"request":"x"}`), t0), nil)
	wantErr(t, "ApprovePairing again", d.ApprovePairing(ctx, alice.ID, "ABCDE12345", []byte(`{"request":"y"}`), t0), ErrConsumed)
	got, err := d.GetPairing(ctx, alice.ID, p.ID, t0)
	wantErr(t, "GetPairing after approval", err, nil)
	wantEqual(t, "the approval", string(got.Approval), `{"request":"x"}`)

	wantErr(t, "DeletePairing by another user", d.DeletePairing(ctx, bob.ID, p.ID), ErrNotFound)
	wantErr(t, "DeletePairing", d.DeletePairing(ctx, alice.ID, p.ID), nil)
	_, err = d.GetPairing(ctx, alice.ID, p.ID, t0)
	wantErr(t, "GetPairing after delete", err, ErrNotFound)
}

func testPairingLimits(t *testing.T, st storage) {
	d := st.open(t)
	u := mustActiveUser(t, d, "alice@example.com")
	for i := range MaxLivePairings {
		_, err := d.CreatePairing(ctx, u.ID, fmt.Sprintf("AAAAA0000%d", i), []byte("c"), "", t0, t0.Add(time.Minute))
		wantErr(t, "CreatePairing", err, nil)
	}
	_, err := d.CreatePairing(ctx, u.ID, "BBBBB00000", []byte("c"), "", t0, t0.Add(time.Minute))
	wantErr(t, "one pairing more than the limit", err, ErrTooMany)
	// Expired ones count for nothing and free their codes.
	_, err = d.CreatePairing(ctx, u.ID, "AAAAA00000", []byte("c"), "", t0.Add(time.Minute), t0.Add(2*time.Minute))
	wantErr(t, "CreatePairing once the others expired", err, nil)
	_, err = d.CreatePairing(ctx, u.ID, "CCCCC00000", []byte("c"), "", t0, t0.Add(MaxPairingTTL+time.Second))
	wantErr(t, "a pairing that lives too long", err, ErrInvalid)
	n, err := d.DeleteExpiredPairings(ctx, t0.Add(2*time.Minute))
	wantErr(t, "DeleteExpiredPairings", err, nil)
	wantEqual(t, "pairings deleted", n, int64(1))
}

func testCredentialNames(t *testing.T, st storage) {
	d := st.open(t)
	alice, bob := mustActiveUser(t, d, "alice@example.com"), mustActiveUser(t, d, "bob@example.com")
	id := []byte{1, 2, 3}
	steps := []struct {
		name string
		user User
		set  string
		want map[string]string // alice's names after the step
		err  error
	}{
		{"named", alice, "Work laptop", map[string]string{"\x01\x02\x03": "Work laptop"}, nil},
		{"renamed", alice, "Old laptop", map[string]string{"\x01\x02\x03": "Old laptop"}, nil},
		{"another user's name of the same id", bob, "Bob's", map[string]string{"\x01\x02\x03": "Old laptop"}, nil},
		{"a control character", alice, "a\nb", map[string]string{"\x01\x02\x03": "Old laptop"}, ErrInvalid},
		{"cleared", alice, "", map[string]string{}, nil},
	}
	for _, s := range steps {
		wantErr(t, s.name, d.SetCredentialName(ctx, s.user.ID, id, s.set), s.err)
		got, err := d.CredentialNames(ctx, alice.ID)
		wantErr(t, s.name+": CredentialNames", err, nil)
		wantEqual(t, s.name, got, s.want)
	}
}
