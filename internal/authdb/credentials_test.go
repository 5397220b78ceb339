package authdb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func testAPIKeys(t *testing.T, st storage) {
	d := st.open(t)
	alice, mallory := mustUser(t, d, ""), mustUser(t, d, "")
	spki := newSPKI(t)
	k, err := d.CreateAPIKey(ctx, alice.ID, spki, "CI deploy key", t0)
	wantErr(t, "CreateAPIKey", err, nil)
	want := APIKey{ID: KeyID(spki), UserID: alice.ID, SPKI: spki, Label: "CI deploy key", CreatedAt: t0}
	wantEqual(t, "CreateAPIKey", k, want)
	if len(k.ID) != 64 || strings.ToLower(k.ID) != k.ID {
		t.Fatalf("key id %q: want 64 lowercase hex digits", k.ID)
	}
	got, err := d.GetAPIKey(ctx, k.ID)
	wantErr(t, "GetAPIKey", err, nil)
	wantEqual(t, "GetAPIKey", got, want)

	tests := []struct {
		name   string
		userID string
		spki   []byte
		label  string
		want   error
	}{
		{"TheSameKeyForAnotherUserIsErrExists", mallory.ID, spki, "", ErrExists},
		{"TheSameKeyAgainIsErrExists", alice.ID, spki, "again", ErrExists},
		{"GarbageSPKIIsErrInvalid", alice.ID, []byte("not DER"), "", ErrInvalid},
		{"EmptySPKIIsErrInvalid", alice.ID, nil, "", ErrInvalid},
		{"ALabelOverTheLimitIsErrInvalid", alice.ID, newSPKI(t), strings.Repeat("l", MaxLabelLen+1), ErrInvalid},
		{"AMissingUserIsErrNotFound", "00000000-0000-4000-8000-000000000000", newSPKI(t), "", ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.CreateAPIKey(ctx, tc.userID, tc.spki, tc.label, t0)
			wantErr(t, "CreateAPIKey", err, tc.want)
		})
	}
	second, err := d.CreateAPIKey(ctx, alice.ID, newSPKI(t), "", t0.Add(time.Minute))
	wantErr(t, "CreateAPIKey", err, nil)
	list, err := d.ListAPIKeys(ctx, alice.ID)
	wantErr(t, "ListAPIKeys", err, nil)
	wantEqual(t, "ListAPIKeys", list, []APIKey{want, second})

	wantErr(t, "RevokeAPIKey by another user", d.RevokeAPIKey(ctx, mallory.ID, k.ID, t0), ErrNotFound)
	wantErr(t, "RevokeAPIKey", d.RevokeAPIKey(ctx, alice.ID, k.ID, t0.Add(time.Hour)), nil)
	got, err = d.GetAPIKey(ctx, k.ID)
	wantErr(t, "GetAPIKey of a revoked key", err, ErrRevoked)
	if got.RevokedAt != t0.Add(time.Hour) {
		t.Fatalf("revoked key: RevokedAt got %v, want %v", got.RevokedAt, t0.Add(time.Hour))
	}
	list, _ = d.ListAPIKeys(ctx, alice.ID)
	wantEqual(t, "ListAPIKeys after revoking", list, []APIKey{second})
	_, err = d.CreateAPIKey(ctx, alice.ID, spki, "", t0)
	wantErr(t, "CreateAPIKey of a revoked key", err, ErrExists)
	_, err = d.GetAPIKey(ctx, strings.Repeat("0", 64))
	wantErr(t, "GetAPIKey of an unknown key", err, ErrNotFound)
	_, err = d.GetAPIKey(ctx, strings.ToUpper(k.ID))
	wantErr(t, "GetAPIKey with an uppercase id", err, ErrInvalid)
}

func testPasskey(t *testing.T, userID, credID string) Passkey {
	return Passkey{
		CredentialID:      []byte(credID),
		UserID:            userID,
		PublicKey:         []byte{0xa5, 0x01, 0x02, 0x03, 0x26},
		SPKI:              newSPKI(t),
		Alg:               -7,
		SignCount:         0,
		Transports:        []string{"internal", "hybrid"},
		BackupEligible:    true,
		BackupState:       true,
		AAGUID:            [16]byte{0xea, 0x9b, 0x8d, 0x66, 0x4d, 0x01, 0x1d, 0x21, 0x3c, 0xe4, 0xb6, 0xb4, 0x8c, 0xb5, 0x75, 0xd4},
		AttestationFormat: "none",
	}
}

func testPasskeyRoundTrip(t *testing.T, st storage) {
	d := st.open(t)
	u := mustUser(t, d, "")
	tests := []struct {
		name   string
		change func(p *Passkey)
	}{
		{"SyncedPasskey", func(p *Passkey) {}},
		{"SecurityKey", func(p *Passkey) {
			p.Transports, p.BackupEligible, p.BackupState, p.SignCount = []string{"usb", "nfc"}, false, false, 1<<32-1
			p.Alg, p.AttestationFormat, p.AAGUID = -8, "packed", [16]byte{}
		}},
		{"NoTransports", func(p *Passkey) { p.Transports = nil; p.BackupState = false }},
		{"LongestCredentialID", func(p *Passkey) { p.CredentialID = make([]byte, MaxCredentialIDLen); p.CredentialID[0] = 1 }},
		{"RS256", func(p *Passkey) { p.Alg = -257 }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPasskey(t, u.ID, "cred-"+tc.name)
			tc.change(&p)
			created, err := d.CreatePasskey(ctx, p, t0.Add(time.Duration(i)*time.Second))
			wantErr(t, "CreatePasskey", err, nil)
			p.CreatedAt = t0.Add(time.Duration(i) * time.Second)
			wantEqual(t, "CreatePasskey", created, p)
			got, err := d.GetPasskey(ctx, p.CredentialID)
			wantErr(t, "GetPasskey", err, nil)
			wantEqual(t, "GetPasskey", got, p)
		})
	}
	list, err := d.ListPasskeys(ctx, u.ID)
	wantErr(t, "ListPasskeys", err, nil)
	if len(list) != len(tests) {
		t.Fatalf("ListPasskeys: got %d, want %d", len(list), len(tests))
	}
	for i, p := range list {
		if !p.CreatedAt.Equal(t0.Add(time.Duration(i) * time.Second)) {
			t.Fatalf("ListPasskeys: entry %d created at %v, want oldest first", i, p.CreatedAt)
		}
	}
	invalid := []struct {
		name   string
		change func(p *Passkey)
	}{
		{"BackupStateWithoutEligibility", func(p *Passkey) { p.BackupEligible = false }},
		{"NoCredentialID", func(p *Passkey) { p.CredentialID = nil }},
		{"CredentialIDOverTheLimit", func(p *Passkey) { p.CredentialID = make([]byte, MaxCredentialIDLen+1) }},
		{"NoPublicKey", func(p *Passkey) { p.PublicKey = nil }},
		{"BadSPKI", func(p *Passkey) { p.SPKI = []byte{0x30, 0x00} }},
		{"ZeroAlg", func(p *Passkey) { p.Alg = 0 }},
		{"TooManyTransports", func(p *Passkey) { p.Transports = strings.Split("a,b,c,d,e,f,g,h,i", ",") }},
		{"TransportWithAComma", func(p *Passkey) { p.Transports = []string{"usb,nfc"} }},
		{"EmptyTransport", func(p *Passkey) { p.Transports = []string{""} }},
		{"NoAttestationFormat", func(p *Passkey) { p.AttestationFormat = "" }},
	}
	for _, tc := range invalid {
		t.Run("Invalid/"+tc.name, func(t *testing.T) {
			p := testPasskey(t, u.ID, "invalid-"+tc.name)
			tc.change(&p)
			_, err := d.CreatePasskey(ctx, p, t0)
			wantErr(t, "CreatePasskey", err, ErrInvalid)
		})
	}
}

func testPasskeyUse(t *testing.T, st storage) {
	d := st.open(t)
	u := mustUser(t, d, "")
	synced := testPasskey(t, u.ID, "synced")
	key := testPasskey(t, u.ID, "key")
	key.BackupEligible, key.BackupState = false, false
	for _, p := range []Passkey{synced, key} {
		if _, err := d.CreatePasskey(ctx, p, t0); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name         string
		cred         string
		count        uint32
		bs           bool
		at           time.Duration
		want         error
		wantCount    uint32
		wantBS       bool
		wantLastUsed time.Duration
	}{
		{"CounterMovesForward", "key", 5, false, time.Minute, nil, 5, false, time.Minute},
		{"CounterNeverMovesBack", "key", 3, false, 2 * time.Minute, nil, 5, false, 2 * time.Minute},
		{"LastUsedNeverMovesBack", "key", 6, false, time.Second, nil, 6, false, 2 * time.Minute},
		{"BackupStateOnANonEligibleKeyIsErrInvalid", "key", 7, true, time.Hour, ErrInvalid, 6, false, 2 * time.Minute},
		{"BackupStateChangesOnAnEligibleKey", "synced", 0, false, time.Minute, nil, 0, false, time.Minute},
		{"BackupStateChangesBack", "synced", 0, true, 2 * time.Minute, nil, 0, true, 2 * time.Minute},
		{"AnUnknownCredentialIsErrNotFound", "none", 1, false, 0, ErrNotFound, 0, false, 0},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			err := d.UpdatePasskeyUse(ctx, []byte(tc.cred), tc.count, tc.bs, t0.Add(tc.at))
			wantErr(t, "UpdatePasskeyUse", err, tc.want)
			if tc.want == ErrNotFound {
				return
			}
			got, err := d.GetPasskey(ctx, []byte(tc.cred))
			wantErr(t, "GetPasskey", err, nil)
			if got.SignCount != tc.wantCount || got.BackupState != tc.wantBS || !got.LastUsedAt.Equal(t0.Add(tc.wantLastUsed)) {
				t.Fatalf("got count %d, BS %v, last used %v; want %d, %v, %v",
					got.SignCount, got.BackupState, got.LastUsedAt, tc.wantCount, tc.wantBS, t0.Add(tc.wantLastUsed))
			}
		})
	}
	t.Run("ConcurrentUsesKeepTheHighestCounter", func(t *testing.T) {
		errs := concurrently(20, func(i int) error {
			return d.UpdatePasskeyUse(ctx, []byte("key"), uint32(100+i), false, t0.Add(time.Hour))
		})
		tally(t, errs)
		got, _ := d.GetPasskey(ctx, []byte("key"))
		if got.SignCount != 119 {
			t.Fatalf("counter after 20 concurrent uses: got %d, want 119", got.SignCount)
		}
	})
}

func testPasskeyOwnership(t *testing.T, st storage) {
	d := st.open(t)
	alice, mallory := mustUser(t, d, ""), mustUser(t, d, "")
	p := testPasskey(t, alice.ID, "alice-key")
	if _, err := d.CreatePasskey(ctx, p, t0); err != nil {
		t.Fatal(err)
	}
	stolen := testPasskey(t, mallory.ID, "alice-key")
	_, err := d.CreatePasskey(ctx, stolen, t0)
	wantErr(t, "CreatePasskey of a registered credential id for another user", err, ErrExists)
	wantErr(t, "DeletePasskey by another user", d.DeletePasskey(ctx, mallory.ID, p.CredentialID), ErrNotFound)
	got, err := d.GetPasskey(ctx, p.CredentialID)
	if err != nil || got.UserID != alice.ID {
		t.Fatalf("GetPasskey after the attempts: got %+v, %v; want alice's key", got.UserID, err)
	}
	wantErr(t, "DeletePasskey", d.DeletePasskey(ctx, alice.ID, p.CredentialID), nil)
	_, err = d.GetPasskey(ctx, p.CredentialID)
	wantErr(t, "GetPasskey after delete", err, ErrNotFound)
	wantErr(t, "DeletePasskey again", d.DeletePasskey(ctx, alice.ID, p.CredentialID), ErrNotFound)
}

func testDevices(t *testing.T, st storage) {
	d := st.open(t)
	alice, mallory := mustUser(t, d, ""), mustUser(t, d, "")
	dev := Device{CredentialID: []byte("session-key-1"), UserID: alice.ID, Label: "Alice's laptop", SessionID: digest("sess")}
	created, err := d.CreateDevice(ctx, dev, t0)
	wantErr(t, "CreateDevice", err, nil)
	dev.CreatedAt = t0
	wantEqual(t, "CreateDevice", created, dev)
	got, err := d.GetDevice(ctx, dev.CredentialID)
	wantErr(t, "GetDevice", err, nil)
	wantEqual(t, "GetDevice", got, dev)

	noSession := Device{CredentialID: []byte("session-key-2"), UserID: alice.ID}
	if _, err := d.CreateDevice(ctx, noSession, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = d.CreateDevice(ctx, Device{CredentialID: dev.CredentialID, UserID: mallory.ID}, t0)
	wantErr(t, "CreateDevice with a recorded credential id", err, ErrExists)
	_, err = d.CreateDevice(ctx, Device{CredentialID: []byte("x"), UserID: "00000000-0000-4000-8000-000000000000"}, t0)
	wantErr(t, "CreateDevice for a missing user", err, ErrNotFound)

	wantErr(t, "RevokeDevice by another user", d.RevokeDevice(ctx, mallory.ID, dev.CredentialID, t0), ErrNotFound)
	wantErr(t, "RevokeDevice", d.RevokeDevice(ctx, alice.ID, dev.CredentialID, t0.Add(time.Hour)), nil)
	got, err = d.GetDevice(ctx, dev.CredentialID)
	wantErr(t, "GetDevice of a revoked device", err, ErrRevoked)
	if got.RevokedAt != t0.Add(time.Hour) {
		t.Fatalf("RevokedAt: got %v, want %v", got.RevokedAt, t0.Add(time.Hour))
	}
	list, err := d.ListDevices(ctx, alice.ID)
	wantErr(t, "ListDevices", err, nil)
	noSession.CreatedAt = t0.Add(time.Second)
	wantEqual(t, "ListDevices", list, []Device{noSession})
}

func testAddresses(t *testing.T, st storage) {
	d := st.open(t)
	u := mustUser(t, d, "")
	eth := Address{UserID: u.ID, Chain: "eth", Path: "m/44'/60'/0'/0/0", Address: "0x9858EfFD232B4033E47d90003D41EC34EcaEda94", PublicKey: []byte{0x02, 0x01}}
	got, err := d.PutAddress(ctx, eth, t0)
	wantErr(t, "PutAddress", err, nil)
	eth.CreatedAt = t0
	wantEqual(t, "PutAddress", got, eth)
	tests := []struct {
		name   string
		change func(a *Address)
		want   error
	}{
		{"TheSameValueAgainIsFine", func(a *Address) {}, nil},
		{"ADifferentAddressIsErrConflict", func(a *Address) { a.Address = "0xattacker" }, ErrConflict},
		{"ADifferentKeyIsErrConflict", func(a *Address) { a.PublicKey = []byte{0x03, 0x01} }, ErrConflict},
		{"AnotherPathIsAnotherEntry", func(a *Address) { a.Path = "m/44'/60'/0'/0/1" }, nil},
		{"AnotherChainIsAnotherEntry", func(a *Address) { a.Chain = "btc"; a.Path = "m/84h/0h/0h/0/0"; a.Address = "bc1q" }, nil},
		{"AMalformedPathIsErrInvalid", func(a *Address) { a.Path = "m/44'/60'/x" }, ErrInvalid},
		{"AnAddressWithASpaceIsErrInvalid", func(a *Address) { a.Address = "0x 1" }, ErrInvalid},
		{"AMissingUserIsErrNotFound", func(a *Address) { a.UserID = "00000000-0000-4000-8000-000000000000" }, ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := eth
			tc.change(&a)
			_, err := d.PutAddress(ctx, a, t0.Add(time.Hour))
			wantErr(t, "PutAddress", err, tc.want)
		})
	}
	stored, err := d.GetAddress(ctx, u.ID, "eth", eth.Path)
	wantErr(t, "GetAddress", err, nil)
	wantEqual(t, "the entry after the attempts", stored, eth)

	// An entry cached without a statement gets one, once.
	sig := func(b byte) []byte { return bytes.Repeat([]byte{b}, 64) }
	statements := []struct {
		name          string
		change        func(a *Address)
		want          error
		wantStatement string // stored afterwards
	}{
		{"AStatementWithoutASignatureIsErrInvalid", func(a *Address) { a.Statement = []byte("s1") }, ErrInvalid, ""},
		{"AShortSignatureIsErrInvalid", func(a *Address) { a.Statement, a.Signature = []byte("s1"), sig(1)[:63] }, ErrInvalid, ""},
		{"AStatementForAnotherAddressIsErrConflict", func(a *Address) { a.Address, a.Statement, a.Signature = "0xattacker", []byte("s1"), sig(1) }, ErrConflict, ""},
		{"AStatementForTheSameValueIsStored", func(a *Address) { a.Statement, a.Signature = []byte("s1"), sig(1) }, nil, "s1"},
		{"ASecondStatementDoesNotReplaceTheFirst", func(a *Address) { a.Statement, a.Signature = []byte("s2"), sig(2) }, nil, "s1"},
		{"PuttingWithoutAStatementKeepsIt", func(a *Address) {}, nil, "s1"},
	}
	for _, tc := range statements {
		t.Run(tc.name, func(t *testing.T) {
			a := eth
			tc.change(&a)
			_, err := d.PutAddress(ctx, a, t0.Add(2*time.Hour))
			wantErr(t, "PutAddress", err, tc.want)
			got, err := d.GetAddress(ctx, u.ID, "eth", eth.Path)
			wantErr(t, "GetAddress", err, nil)
			if string(got.Statement) != tc.wantStatement || got.Address != eth.Address || !got.CreatedAt.Equal(t0) {
				t.Fatalf("stored: statement %q, address %s, created %v; want statement %q and the first entry's address and time", got.Statement, got.Address, got.CreatedAt, tc.wantStatement)
			}
		})
	}
	list, err := d.ListAddresses(ctx, u.ID)
	wantErr(t, "ListAddresses", err, nil)
	var keys []string
	for _, a := range list {
		keys = append(keys, a.Chain+" "+a.Path)
	}
	wantEqual(t, "ListAddresses order", keys, []string{"btc m/84h/0h/0h/0/0", "eth m/44'/60'/0'/0/0", "eth m/44'/60'/0'/0/1"})
}

func testAudit(t *testing.T, st storage) {
	d := st.open(t)
	u := mustUser(t, d, "")
	events := []AuditEvent{
		{At: t0, UserID: u.ID, Event: "session.created", IP: netip.MustParseAddr("192.0.2.1"), RequestID: "req-1", Detail: json.RawMessage(`{"kind":"cookie"}`)},
		{At: t0.Add(time.Second), Event: "challenge.sent", Detail: json.RawMessage(`{"purpose": "sign_in", "n": [1, 2]}`)},
		{At: t0.Add(2 * time.Second), UserID: u.ID, Event: "passkey.registered"},
	}
	var ids []int64
	for _, e := range events {
		id, err := d.AppendAudit(ctx, e)
		wantErr(t, "AppendAudit", err, nil)
		if len(ids) > 0 && id <= ids[len(ids)-1] {
			t.Fatalf("ids: got %d after %d, want increasing", id, ids[len(ids)-1])
		}
		ids = append(ids, id)
	}
	for i := range events {
		events[i].ID = ids[i]
	}
	events[2].Detail = json.RawMessage(`{}`)
	all, err := d.ListAudit(ctx, "", 0, MaxListLimit)
	wantErr(t, "ListAudit", err, nil)
	wantEqual(t, "ListAudit", all, events)
	mine, err := d.ListAudit(ctx, u.ID, 0, MaxListLimit)
	wantErr(t, "ListAudit of the user", err, nil)
	wantEqual(t, "ListAudit of the user", mine, []AuditEvent{events[0], events[2]})
	recent, err := d.ListRecentAudit(ctx, u.ID, 1)
	wantErr(t, "ListRecentAudit", err, nil)
	wantEqual(t, "the user's most recent event", recent, []AuditEvent{events[2]})
	page, err := d.ListAudit(ctx, "", ids[0], 1)
	wantErr(t, "ListAudit page", err, nil)
	wantEqual(t, "second page of one", page, []AuditEvent{events[1]})

	for _, bad := range []AuditEvent{
		{At: t0, Event: "x", Detail: json.RawMessage(`[1]`)},
		{At: t0, Event: "x", Detail: json.RawMessage(`{"a":`)},
		{At: t0, Event: "x", Detail: json.RawMessage(`null`)},
		{At: t0, Event: "x", Detail: json.RawMessage(`{"a":"` + strings.Repeat("b", MaxAuditDetailLen) + `"}`)},
		{At: t0, Event: "Session Created"},
		{At: time.Time{}, Event: "x"},
		{At: t0, Event: "x", UserID: "not-a-uuid"},
	} {
		if _, err := d.AppendAudit(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("AppendAudit(%+v): got %v, want ErrInvalid", bad.Event, err)
		}
	}
	n, err := d.DeleteAuditBefore(ctx, t0.Add(time.Second))
	if err != nil || n != 1 {
		t.Fatalf("DeleteAuditBefore: got %d, %v; want 1, nil", n, err)
	}
	// Ids are not reused after deletion.
	id, _ := d.AppendAudit(ctx, AuditEvent{At: t0, Event: "x"})
	if id <= ids[2] {
		t.Fatalf("id after deletion: got %d, want above %d", id, ids[2])
	}
}

// Revoking an API key ends the sessions signed in with it, the ones
// rotated from them too, and no other session.
func testRevokeAPIKeyEndsItsSessions(t *testing.T, st storage) {
	d := st.open(t)
	alice := mustUser(t, d, "")
	keep, _ := d.CreateAPIKey(ctx, alice.ID, newSPKI(t), "kept", t0)
	gone, _ := d.CreateAPIKey(ctx, alice.ID, newSPKI(t), "revoked", t0)
	session := func(token, keyID string) Session {
		ns := newSession(alice.ID, token)
		ns.APIKeyID = keyID
		s, err := d.CreateSession(ctx, ns, t0)
		wantErr(t, "CreateSession", err, nil)
		return s
	}
	byGone, byKept, byEmail := session("gone", gone.ID), session("kept", keep.ID), session("email", "")
	rotated, err := d.RotateSession(ctx, byGone.ID, digest("gone, rotated"), Client{}, t0.Add(time.Minute))
	wantErr(t, "RotateSession", err, nil)
	if rotated.APIKeyID != gone.ID {
		t.Fatalf("a rotated session's API key: got %q, want %q", rotated.APIKeyID, gone.ID)
	}
	wantErr(t, "RevokeAPIKey", d.RevokeAPIKey(ctx, alice.ID, gone.ID, t0.Add(time.Hour)), nil)
	tests := []struct {
		name string
		id   Digest
		want error
	}{
		{"TheRotatedSessionOfTheRevokedKeyEnds", rotated.ID, ErrRevoked},
		{"ASessionOfAnotherKeyStays", byKept.ID, nil},
		{"ASessionSignedInOtherwiseStays", byEmail.ID, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.GetSession(ctx, tc.id, t0.Add(2*time.Hour))
			wantErr(t, "GetSession", err, tc.want)
			if tc.want == nil && got.APIKeyID != map[Digest]string{byKept.ID: keep.ID, byEmail.ID: ""}[tc.id] {
				t.Fatalf("GetSession: APIKeyID %q", got.APIKeyID)
			}
		})
	}
	// A session of the key stored after the key was revoked (a rotation
	// that committed after RevokeAPIKey) is revoked too, and not listed.
	late := session("late", gone.ID)
	_, err = d.GetSession(ctx, late.ID, t0.Add(2*time.Hour))
	wantErr(t, "GetSession of a late session of the revoked key", err, ErrRevoked)
	_, err = d.RotateSession(ctx, late.ID, digest("late, rotated"), Client{}, t0.Add(2*time.Hour))
	wantErr(t, "RotateSession of a late session of the revoked key", err, ErrRevoked)
	wantErr(t, "TouchSession of a late session of the revoked key", d.TouchSession(ctx, late.ID, t0.Add(2*time.Hour)), ErrRevoked)
	listed, err := d.ListSessions(ctx, alice.ID, t0.Add(2*time.Hour))
	wantErr(t, "ListSessions", err, nil)
	for _, l := range listed {
		if l.APIKeyID == gone.ID {
			t.Fatalf("ListSessions lists session %s of the revoked key", l.ID.Hex())
		}
	}
	if len(listed) != 2 {
		t.Fatalf("ListSessions: %d sessions, want the two that stay", len(listed))
	}
	ns := newSession(alice.ID, "bad key id")
	ns.APIKeyID = "not a key id"
	_, err = d.CreateSession(ctx, ns, t0)
	wantErr(t, "CreateSession with a malformed API key id", err, ErrInvalid)
}

// The first server to record a deployment setting fixes it.
func testClaimDeployment(t *testing.T, st storage) {
	d := st.open(t)
	tests := []struct {
		name, value string
		at          time.Time
		want        string
		wantSince   time.Time
	}{
		{"TheFirstClaimRecords", "key-one", t0, "key-one", t0},
		{"AnotherValueLaterGetsTheFirst", "key-two", t0.Add(time.Hour), "key-one", t0},
		{"TheSameValueAgainGetsIt", "key-one", t0.Add(2 * time.Hour), "key-one", t0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, since, err := d.ClaimDeployment(ctx, DeploymentSecretdClientKey, tc.value, tc.at)
			wantErr(t, "ClaimDeployment", err, nil)
			if got != tc.want || !since.Equal(tc.wantSince) {
				t.Fatalf("ClaimDeployment: got %q since %v, want %q since %v", got, since, tc.want, tc.wantSince)
			}
		})
	}
	if got, _, err := d.ClaimDeployment(ctx, DeploymentSecretdCluster, "cluster", t0); err != nil || got != "cluster" {
		t.Fatalf("another setting: got %q, %v; want its own value", got, err)
	}
	_, _, err := d.ClaimDeployment(ctx, "", "x", t0)
	wantErr(t, "ClaimDeployment without a name", err, ErrInvalid)

	t.Run("ServersStartingAtOnceAllGetTheOneFirstClaim", func(t *testing.T) {
		const servers = 8
		got := make([]string, servers)
		errs := make([]error, servers)
		dbs := make([]*DB, servers) // each server on its own connection, as processes are
		for i := range dbs {
			dbs[i] = st.open(t)
		}
		var wg sync.WaitGroup
		for i := range servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], _, errs[i] = dbs[i].ClaimDeployment(ctx, "concurrent_claim", fmt.Sprintf("key-%d", i), t0)
			}()
		}
		wg.Wait()
		for i := range servers {
			wantErr(t, "ClaimDeployment", errs[i], nil)
			if got[i] != got[0] || !strings.HasPrefix(got[0], "key-") {
				t.Fatalf("server %d got %q, server 0 got %q: want one claim for all", i, got[i], got[0])
			}
		}
	})
}
