package authdb

import (
	"errors"
	"testing"
	"time"
)

func testCreateUser(t *testing.T, st storage) {
	d := st.open(t)
	oidc := &OIDCIdentity{Provider: "https://accounts.google.com", Subject: "1234567890", Email: "Alice@Example.com"}
	u, err := d.CreateUser(ctx, NewUser{Email: "alice@example.com", EmailVerifiedAt: t0, OIDC: oidc}, t0)
	if err != nil {
		t.Fatalf("CreateUser: got %v, want nil", err)
	}
	if err := checkUserID(u.ID); err != nil {
		t.Fatalf("user id %q: %v", u.ID, err)
	}
	if len(u.WebAuthnHandle) != WebAuthnHandleLen {
		t.Fatalf("generated WebAuthn handle: got %d bytes, want %d", len(u.WebAuthnHandle), WebAuthnHandleLen)
	}
	want := User{ID: u.ID, CreatedAt: t0, State: UserPending, WebAuthnHandle: u.WebAuthnHandle}
	wantEqual(t, "CreateUser", u, want)
	got, err := d.GetUser(ctx, u.ID)
	wantErr(t, "GetUser", err, nil)
	wantEqual(t, "GetUser", got, want)

	e, err := d.LookupEmail(ctx, "alice@example.com")
	wantErr(t, "LookupEmail", err, nil)
	wantEqual(t, "LookupEmail", e, EmailIdentity{Email: "alice@example.com", UserID: u.ID, CreatedAt: t0, VerifiedAt: t0})
	o, err := d.LookupOIDC(ctx, oidc.Provider, oidc.Subject)
	wantErr(t, "LookupOIDC", err, nil)
	wantEqual(t, "LookupOIDC", o, OIDCIdentity{Provider: oidc.Provider, Subject: oidc.Subject, Email: oidc.Email, UserID: u.ID, CreatedAt: t0})

	// A second user gets another id and handle.
	u2 := mustUser(t, d, "")
	if u2.ID == u.ID || string(u2.WebAuthnHandle) == string(u.WebAuthnHandle) {
		t.Fatalf("two users got the same id or WebAuthn handle")
	}
	_, err = d.GetUser(ctx, "00000000-0000-4000-8000-000000000000")
	wantErr(t, "GetUser of a missing user", err, ErrNotFound)
}

func testCreateUserTaken(t *testing.T, st storage) {
	d := st.open(t)
	oidc := OIDCIdentity{Provider: "apple", Subject: "sub-1"}
	first, err := d.CreateUser(ctx, NewUser{Email: "taken@example.com", OIDC: &oidc}, t0)
	wantErr(t, "first CreateUser", err, nil)
	tests := []struct {
		name string
		nu   NewUser
	}{
		{"TakenEmail", NewUser{Email: "taken@example.com"}},
		{"TakenOIDC", NewUser{OIDC: &oidc}},
		{"FreeEmailButTakenOIDC", NewUser{Email: "free@example.com", OIDC: &oidc}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.CreateUser(ctx, tc.nu, t0.Add(time.Second))
			wantErr(t, "CreateUser", err, ErrExists)
			pending, err := d.ListPendingUsers(ctx, t0.Add(time.Hour), MaxListLimit)
			wantErr(t, "ListPendingUsers", err, nil)
			if len(pending) != 1 || pending[0].ID != first.ID {
				t.Fatalf("users after a refused CreateUser: got %+v, want only %s", pending, first.ID)
			}
			if tc.nu.Email == "free@example.com" {
				_, err := d.LookupEmail(ctx, "free@example.com")
				wantErr(t, "LookupEmail of the rolled-back address", err, ErrNotFound)
			}
		})
	}
}

func testWebAuthnHandles(t *testing.T, st storage) {
	d := st.open(t)
	chosen := []byte("handle chosen by the passkey ceremony")
	tests := []struct {
		name   string
		handle []byte
		want   error
	}{
		{"AChosenHandleIsKept", chosen, nil},
		{"ATakenHandleIsErrExists", chosen, ErrExists},
		{"OneByteIsEnough", []byte{0}, nil},
		{"SixtyFourBytesIsTheMost", make([]byte, MaxWebAuthnHandleLen), nil},
		{"SixtyFiveBytesIsErrInvalid", make([]byte, MaxWebAuthnHandleLen+1), ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := d.CreateUser(ctx, NewUser{WebAuthnHandle: tc.handle}, t0)
			wantErr(t, "CreateUser", err, tc.want)
			if err != nil {
				return
			}
			got, err := d.GetUser(ctx, u.ID)
			wantErr(t, "GetUser", err, nil)
			wantEqual(t, "stored handle", got.WebAuthnHandle, tc.handle)
		})
	}
}

func testConcurrentSignUps(t *testing.T, st storage) {
	d := st.open(t)
	errs := concurrently(20, func(int) error {
		_, err := d.CreateUser(ctx, NewUser{Email: "race@example.com", EmailVerifiedAt: t0}, t0)
		return err
	})
	got := tally(t, errs, ErrExists)
	if got[nil] != 1 || got[ErrExists] != 19 {
		t.Fatalf("20 sign-ups for one email: got %s, want 1 success and 19 ErrExists", describeTally(got))
	}
	pending, err := d.ListPendingUsers(ctx, t0.Add(time.Hour), MaxListLimit)
	wantErr(t, "ListPendingUsers", err, nil)
	if len(pending) != 1 {
		t.Fatalf("users: got %d, want 1", len(pending))
	}
}

func testActivate(t *testing.T, st storage) {
	d := st.open(t)
	u := mustUser(t, d, "a@example.com")
	cred := []byte{0xca, 0xfe, 0x00, 0x01}
	wantErr(t, "ActivateUser", d.ActivateUser(ctx, u.ID, cred, t0.Add(time.Minute)), nil)
	got, err := d.GetUser(ctx, u.ID)
	wantErr(t, "GetUser", err, nil)
	wantEqual(t, "active user", got, User{ID: u.ID, CreatedAt: t0, State: UserActive, WebAuthnHandle: u.WebAuthnHandle, ActivatedAt: t0.Add(time.Minute), WalletCredentialID: cred})

	wantErr(t, "second ActivateUser", d.ActivateUser(ctx, u.ID, []byte{9}, t0.Add(2*time.Minute)), ErrConflict)
	got, _ = d.GetUser(ctx, u.ID)
	wantEqual(t, "user after a refused second activation", got.WalletCredentialID, cred)
	wantErr(t, "ActivateUser of a missing user", d.ActivateUser(ctx, "00000000-0000-4000-8000-000000000000", cred, t0), ErrNotFound)
	wantErr(t, "ActivateUser without a credential", d.ActivateUser(ctx, u.ID, nil, t0), ErrInvalid)
}

func testListPending(t *testing.T, st storage) {
	d := st.open(t)
	var ids []string
	for i := range 5 {
		u, err := d.CreateUser(ctx, NewUser{}, t0.Add(time.Duration(i)*time.Hour))
		wantErr(t, "CreateUser", err, nil)
		ids = append(ids, u.ID)
	}
	// User 1 becomes active: never listed.
	wantErr(t, "ActivateUser", d.ActivateUser(ctx, ids[1], []byte{1}, t0), nil)
	tests := []struct {
		name   string
		before time.Time
		limit  int
		want   []string
	}{
		{"NoneOlderThanTheFirst", t0, 10, nil},
		{"StrictlyBefore", t0.Add(2 * time.Hour), 10, []string{ids[0]}},
		{"SkipsActiveUsers", t0.Add(4 * time.Hour), 10, []string{ids[0], ids[2], ids[3]}},
		{"OldestFirstUpToLimit", t0.Add(24 * time.Hour), 2, []string{ids[0], ids[2]}},
		{"All", t0.Add(24 * time.Hour), MaxListLimit, []string{ids[0], ids[2], ids[3], ids[4]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			us, err := d.ListPendingUsers(ctx, tc.before, tc.limit)
			wantErr(t, "ListPendingUsers", err, nil)
			var got []string
			for _, u := range us {
				if u.State != UserPending {
					t.Fatalf("listed user %s is %s", u.ID, u.State)
				}
				got = append(got, u.ID)
			}
			wantEqual(t, "ids", got, tc.want)
		})
	}
}

func testDeletePending(t *testing.T, st storage) {
	d := st.open(t)
	pending := mustUser(t, d, "p@example.com")
	active := mustActiveUser(t, d, "a@example.com")
	tests := []struct {
		name      string
		id        string
		want      error
		wantAfter error // GetUser afterwards
	}{
		{"PendingIsDeleted", pending.ID, nil, ErrNotFound},
		{"ActiveIsErrConflictAndKept", active.ID, ErrConflict, nil},
		{"MissingIsErrNotFound", "00000000-0000-4000-8000-000000000000", ErrNotFound, ErrNotFound},
		{"MalformedIsErrInvalid", "not-a-uuid", ErrInvalid, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "DeletePendingUser", d.DeletePendingUser(ctx, tc.id), tc.want)
			_, err := d.GetUser(ctx, tc.id)
			wantErr(t, "GetUser afterwards", err, tc.wantAfter)
		})
	}
	_, err := d.LookupEmail(ctx, "a@example.com")
	wantErr(t, "the active user's email", err, nil)
}

func testDeleteCascades(t *testing.T, st storage) {
	d := st.open(t)
	u := mustUser(t, d, "gone@example.com")
	keep := mustUser(t, d, "kept@example.com")
	for _, owner := range []User{u, keep} {
		id := owner.ID
		if _, err := d.LinkOIDC(ctx, id, OIDCIdentity{Provider: "p", Subject: id}, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := d.CreateSession(ctx, NewSession{ID: digest("tok" + id), UserID: id, Kind: SessionCookie, ExpiresAt: t0.Add(time.Hour)}, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := d.CreateAPIKey(ctx, id, newSPKI(t), "", t0); err != nil {
			t.Fatal(err)
		}
		if _, err := d.CreatePasskey(ctx, testPasskey(t, id, "pk"+id), t0); err != nil {
			t.Fatal(err)
		}
		if _, err := d.CreateDevice(ctx, Device{CredentialID: []byte("dev" + id), UserID: id}, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := d.PutAddress(ctx, Address{UserID: id, Chain: "eth", Path: "m/44'/60'/0'/0/0", Address: "0xabc", PublicKey: []byte{2}}, t0); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, "DeletePendingUser", d.DeletePendingUser(ctx, u.ID), nil)

	counts := func(id string) []int {
		var out []int
		for _, table := range []string{"email_identities", "oidc_identities", "sessions", "api_keys", "passkeys", "devices", "addresses"} {
			var n int
			if err := d.db.QueryRow(d.q(`SELECT COUNT(*) FROM `+table+` WHERE user_id = ?`), id).Scan(&n); err != nil {
				t.Fatalf("count %s: %v", table, err)
			}
			out = append(out, n)
		}
		return out
	}
	wantEqual(t, "rows of the deleted user in each table", counts(u.ID), []int{0, 0, 0, 0, 0, 0, 0})
	wantEqual(t, "rows of the other user in each table", counts(keep.ID), []int{1, 1, 1, 1, 1, 1, 1})
}

func testDeleteActivateRace(t *testing.T, st storage) {
	d := st.open(t)
	for round := range 20 {
		u := mustUser(t, d, "")
		var activateErr, deleteErr error
		errs := concurrently(2, func(i int) error {
			if i == 0 {
				return d.ActivateUser(ctx, u.ID, []byte{1}, t0)
			}
			return d.DeletePendingUser(ctx, u.ID)
		})
		activateErr, deleteErr = errs[0], errs[1]
		got, err := d.GetUser(ctx, u.ID)
		switch {
		case activateErr == nil && errors.Is(deleteErr, ErrConflict):
			if err != nil || got.State != UserActive {
				t.Fatalf("round %d: activation won but GetUser is %+v, %v; want an active user", round, got, err)
			}
		case deleteErr == nil && errors.Is(activateErr, ErrNotFound):
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("round %d: deletion won but GetUser is %+v, %v; want ErrNotFound", round, got, err)
			}
		default:
			t.Fatalf("round %d: got activate %v and delete %v, want exactly one to win", round, activateErr, deleteErr)
		}
	}
}

func testEmailIdentities(t *testing.T, st storage) {
	d := st.open(t)
	u := mustUser(t, d, "first@example.com")
	other := mustUser(t, d, "")
	tests := []struct {
		name   string
		userID string
		email  string
		want   error
	}{
		{"NewAddressIsLinked", u.ID, "second@example.com", nil},
		{"AnAddressOfTheSameUserIsErrExists", u.ID, "first@example.com", ErrExists},
		{"AnAddressOfAnotherUserIsErrExists", other.ID, "first@example.com", ErrExists},
		{"AMissingUserIsErrNotFound", "00000000-0000-4000-8000-000000000000", "third@example.com", ErrNotFound},
		{"AnUnnormalisedAddressIsErrInvalid", u.ID, "Fourth@example.com", ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.LinkEmail(ctx, tc.userID, tc.email, time.Time{}, t0.Add(time.Minute))
			wantErr(t, "LinkEmail", err, tc.want)
		})
	}
	e, err := d.LookupEmail(ctx, "first@example.com")
	wantErr(t, "LookupEmail", err, nil)
	if e.UserID != u.ID {
		t.Fatalf("first@example.com: got user %s, want %s", e.UserID, u.ID)
	}
	// Verification: set once, then kept.
	wantErr(t, "VerifyEmail", d.VerifyEmail(ctx, "second@example.com", t0.Add(time.Hour)), nil)
	wantErr(t, "VerifyEmail again", d.VerifyEmail(ctx, "second@example.com", t0.Add(2*time.Hour)), nil)
	wantErr(t, "VerifyEmail of a missing address", d.VerifyEmail(ctx, "none@example.com", t0), ErrNotFound)
	es, err := d.ListEmails(ctx, u.ID)
	wantErr(t, "ListEmails", err, nil)
	wantEqual(t, "ListEmails", es, []EmailIdentity{
		{Email: "first@example.com", UserID: u.ID, CreatedAt: t0},
		{Email: "second@example.com", UserID: u.ID, CreatedAt: t0.Add(time.Minute), VerifiedAt: t0.Add(time.Hour)},
	})
}

func testOIDCIdentities(t *testing.T, st storage) {
	d := st.open(t)
	u := mustUser(t, d, "shared@example.com")
	other := mustUser(t, d, "")
	google := OIDCIdentity{Provider: "https://accounts.google.com", Subject: "42", Email: "shared@example.com"}
	_, err := d.LinkOIDC(ctx, u.ID, google, t0)
	wantErr(t, "LinkOIDC", err, nil)

	lookups := []struct {
		name              string
		provider, subject string
		want              error
	}{
		{"SameProviderAndSubject", google.Provider, "42", nil},
		{"OtherSubject", google.Provider, "43", ErrNotFound},
		{"SameSubjectAtAnotherProvider", "https://appleid.apple.com", "42", ErrNotFound},
		{"SubjectWithATrailingSpace", "https://accounts.google.com", "42 ", ErrNotFound},
		{"TheReportedEmailIsNoKey", google.Provider, "shared@example.com", ErrNotFound},
	}
	for _, tc := range lookups {
		t.Run("Lookup/"+tc.name, func(t *testing.T) {
			o, err := d.LookupOIDC(ctx, tc.provider, tc.subject)
			wantErr(t, "LookupOIDC", err, tc.want)
			if err == nil && o.UserID != u.ID {
				t.Fatalf("got user %s, want %s", o.UserID, u.ID)
			}
		})
	}
	_, err = d.LinkOIDC(ctx, other.ID, google, t0)
	wantErr(t, "LinkOIDC of a linked identity to another user", err, ErrExists)
	wantErr(t, "UnlinkOIDC by another user", d.UnlinkOIDC(ctx, other.ID, google.Provider, google.Subject), ErrNotFound)
	os, err := d.ListOIDC(ctx, u.ID)
	wantErr(t, "ListOIDC", err, nil)
	wantEqual(t, "ListOIDC", os, []OIDCIdentity{{Provider: google.Provider, Subject: "42", Email: google.Email, UserID: u.ID, CreatedAt: t0}})
	wantErr(t, "UnlinkOIDC", d.UnlinkOIDC(ctx, u.ID, google.Provider, google.Subject), nil)
	_, err = d.LookupOIDC(ctx, google.Provider, google.Subject)
	wantErr(t, "LookupOIDC after unlink", err, ErrNotFound)
}
