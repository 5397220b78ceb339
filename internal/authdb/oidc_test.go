package authdb

import (
	"testing"
	"time"
)

// oidcFixture is a user, a verified app and an authorized grant with a
// code.
func oidcFixture(t *testing.T, d *DB) (userID string, g OIDCGrant) {
	t.Helper()
	u := mustActiveUser(t, d, "alice@example.com")
	a, err := d.CreateApp(ctx, newTestApp(u.ID), t0)
	wantErr(t, "CreateApp", err, nil)
	g = OIDCGrant{ID: NewOIDCID(), AppID: a.ID, Request: []byte(`{"scopes":["openid"]}`), CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	wantErr(t, "CreateOIDCGrant", d.CreateOIDCGrant(ctx, g), nil)
	wantErr(t, "AuthorizeOIDCGrant", d.AuthorizeOIDCGrant(ctx, g.ID, u.ID, t0, "hwk", t0), nil)
	wantErr(t, "SetOIDCCode", d.SetOIDCCode(ctx, g.ID, digest("code-1")), nil)
	return u.ID, g
}

func testOIDCCodes(t *testing.T, st storage) {
	d := st.open(t)
	userID, g := oidcFixture(t, d)
	keep := t0.Add(30 * 24 * time.Hour)

	wantErr(t, "a second user for the grant", d.AuthorizeOIDCGrant(ctx, g.ID, userID, t0, "hwk", t0), ErrConflict)
	wantErr(t, "a second code for the grant", d.SetOIDCCode(ctx, g.ID, digest("code-2")), ErrConflict)
	_, err := d.SpendOIDCCode(ctx, digest("unknown"), t0, keep)
	wantErr(t, "an unknown code", err, ErrNotFound)

	peek, err := d.GetOIDCGrantByCode(ctx, digest("code-1"), t0)
	wantErr(t, "reading the grant by its code", err, nil)
	if peek.ID != g.ID || peek.CodeUsed {
		t.Fatalf("the grant read by its code: %+v", peek)
	}
	got, err := d.SpendOIDCCode(ctx, digest("code-1"), t0.Add(time.Minute), keep)
	wantErr(t, "the first use of the code", err, nil)
	if peek, err = d.GetOIDCGrantByCode(ctx, digest("code-1"), t0.Add(time.Minute)); err != nil || !peek.CodeUsed {
		t.Fatalf("after the spend, the grant reads %+v, %v; want the code used", peek, err)
	}
	wantEqual(t, "the grant's user", got.UserID, userID)
	wantEqual(t, "the grant's amr", got.AMR, "hwk")
	tok := OIDCToken{ID: NewOIDCID(), GrantID: g.ID, Kind: "access", Scopes: "openid", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	ref := OIDCToken{ID: NewOIDCID(), GrantID: g.ID, Kind: "refresh", Digest: digest("refresh-1"), Scopes: "openid offline_access", CreatedAt: t0, ExpiresAt: keep.Add(time.Hour)}
	wantErr(t, "CreateOIDCTokens", d.CreateOIDCTokens(ctx, Digest{}, t0, tok, ref), nil)
	_, _, err = d.GetOIDCToken(ctx, tok.ID, t0.Add(2*time.Minute))
	wantErr(t, "the access token", err, nil)
	r, _, err := d.GetOIDCRefreshToken(ctx, digest("refresh-1"), t0.Add(2*time.Minute))
	wantErr(t, "the refresh token", err, nil)
	wantEqual(t, "a token outlives neither its grant", r.ExpiresAt, keep)

	// The second use of a code is refused and ends what the first got.
	_, err = d.SpendOIDCCode(ctx, digest("code-1"), t0.Add(3*time.Minute), keep)
	wantErr(t, "the second use of the code", err, ErrRevoked)
	_, _, err = d.GetOIDCToken(ctx, tok.ID, t0.Add(3*time.Minute))
	wantErr(t, "the access token after the code was replayed", err, ErrRevoked)
	_, _, err = d.GetOIDCRefreshToken(ctx, digest("refresh-1"), t0.Add(3*time.Minute))
	wantErr(t, "the refresh token after the code was replayed", err, ErrRevoked)
	wantErr(t, "new tokens for a revoked grant", d.CreateOIDCTokens(ctx, Digest{}, t0, OIDCToken{ID: NewOIDCID(), GrantID: g.ID, Kind: "access", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}), ErrRevoked)
}

func testOIDCRefresh(t *testing.T, st storage) {
	d := st.open(t)
	userID, g := oidcFixture(t, d)
	keep := t0.Add(30 * 24 * time.Hour)
	_, err := d.SpendOIDCCode(ctx, digest("code-1"), t0, keep)
	wantErr(t, "SpendOIDCCode", err, nil)
	refresh := func(id string, n int) OIDCToken {
		return OIDCToken{ID: id, GrantID: g.ID, Kind: "refresh", Digest: digest("refresh-" + string(rune('0'+n))), Scopes: "openid", CreatedAt: t0, ExpiresAt: keep}
	}
	r1 := refresh(NewOIDCID(), 1)
	wantErr(t, "the first refresh token", d.CreateOIDCTokens(ctx, Digest{}, t0, r1), nil)
	r2 := refresh(NewOIDCID(), 2)
	wantErr(t, "rotating it", d.CreateOIDCTokens(ctx, r1.Digest, t0.Add(time.Minute), r2), nil)
	_, _, err = d.GetOIDCRefreshToken(ctx, r2.Digest, t0.Add(2*time.Minute))
	wantErr(t, "the new refresh token", err, nil)

	// Using r1 again, by either path, is a replay: the family ends.
	wantErr(t, "rotating the used token again", d.CreateOIDCTokens(ctx, r1.Digest, t0.Add(3*time.Minute), refresh(NewOIDCID(), 3)), ErrRevoked)
	_, _, err = d.GetOIDCRefreshToken(ctx, r2.Digest, t0.Add(3*time.Minute))
	wantErr(t, "the newest token after the replay", err, ErrRevoked)

	// A replay found on reading revokes too.
	_, g2 := func() (string, OIDCGrant) {
		a, err := d.ListAppsByOwner(ctx, userID)
		wantErr(t, "ListAppsByOwner", err, nil)
		g := OIDCGrant{ID: NewOIDCID(), AppID: a[0].ID, Request: []byte(`{}`), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		wantErr(t, "CreateOIDCGrant", d.CreateOIDCGrant(ctx, g), nil)
		return userID, g
	}()
	s1 := OIDCToken{ID: NewOIDCID(), GrantID: g2.ID, Kind: "refresh", Digest: digest("s1"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	s2 := OIDCToken{ID: NewOIDCID(), GrantID: g2.ID, Kind: "refresh", Digest: digest("s2"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	wantErr(t, "s1", d.CreateOIDCTokens(ctx, Digest{}, t0, s1), nil)
	wantErr(t, "s1 to s2", d.CreateOIDCTokens(ctx, s1.Digest, t0, s2), nil)
	// Reading a used token changes nothing (a read is not
	// authenticated); spending it again ends the family.
	u, _, err := d.GetOIDCRefreshToken(ctx, s1.Digest, t0)
	wantErr(t, "reading a used refresh token", err, nil)
	if u.UsedAt.IsZero() {
		t.Fatal("a used refresh token reads as unused")
	}
	_, _, err = d.GetOIDCRefreshToken(ctx, s2.Digest, t0)
	wantErr(t, "its successor after a read of the used one", err, nil)
	wantErr(t, "spending the used one", d.CreateOIDCTokens(ctx, s1.Digest, t0, OIDCToken{ID: NewOIDCID(), GrantID: g2.ID, Kind: "refresh", Digest: digest("s3"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}), ErrRevoked)
	_, _, err = d.GetOIDCRefreshToken(ctx, s2.Digest, t0)
	wantErr(t, "its successor", err, ErrRevoked)

	// An app that stops being verified keeps only its developer's grants.
	_, g4 := oidcFixtureAgain(t, d, userID, g.AppID)
	n, err := d.RevokeOIDCAppGrants(ctx, g.AppID, userID, t0)
	wantErr(t, "RevokeOIDCAppGrants keeping the user", err, nil)
	_, err = d.GetOIDCGrant(ctx, g4.ID, t0)
	wantErr(t, "the kept user's grant", err, nil)
	n, err = d.RevokeOIDCAppGrants(ctx, g.AppID, "", t0)
	wantErr(t, "RevokeOIDCAppGrants keeping none", err, nil)
	wantEqual(t, "grants ended", n, int64(1))
	_, err = d.GetOIDCGrant(ctx, g4.ID, t0)
	wantErr(t, "the grant after all were ended", err, ErrRevoked)

	// Ending a user's grants to an app (logout) ends their tokens.
	_, g3 := oidcFixtureAgain(t, d, userID, g.AppID)
	a3 := OIDCToken{ID: NewOIDCID(), GrantID: g3.ID, Kind: "access", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	wantErr(t, "a3", d.CreateOIDCTokens(ctx, Digest{}, t0, a3), nil)
	n, err = d.RevokeOIDCGrants(ctx, userID, g.AppID, t0)
	wantErr(t, "RevokeOIDCGrants", err, nil)
	wantEqual(t, "live grants ended", n, int64(1))
	_, _, err = d.GetOIDCToken(ctx, a3.ID, t0)
	wantErr(t, "a token after logout", err, ErrRevoked)
}

func oidcFixtureAgain(t *testing.T, d *DB, userID, appID string) (string, OIDCGrant) {
	t.Helper()
	g := OIDCGrant{ID: NewOIDCID(), AppID: appID, Request: []byte(`{}`), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	wantErr(t, "CreateOIDCGrant", d.CreateOIDCGrant(ctx, g), nil)
	wantErr(t, "AuthorizeOIDCGrant", d.AuthorizeOIDCGrant(ctx, g.ID, userID, t0, "", t0), nil)
	return userID, g
}

func testOIDCClientsKeysConsents(t *testing.T, st storage) {
	d := st.open(t)
	u := mustActiveUser(t, d, "alice@example.com")
	a, err := d.CreateApp(ctx, newTestApp(u.ID), t0)
	wantErr(t, "CreateApp", err, nil)
	_, err = d.GetOIDCClient(ctx, a.ID)
	wantErr(t, "an app without a client", err, ErrNotFound)
	wantErr(t, "a public client", d.PutOIDCClient(ctx, a.ID, Digest{}, t0), nil)
	sec, err := d.GetOIDCClient(ctx, a.ID)
	wantErr(t, "GetOIDCClient", err, nil)
	wantEqual(t, "a public client's secret", sec.IsZero(), true)
	wantErr(t, "a confidential client", d.PutOIDCClient(ctx, a.ID, digest("secret"), t0), nil)
	sec, _ = d.GetOIDCClient(ctx, a.ID)
	wantEqual(t, "the secret digest", sec, digest("secret"))
	wantErr(t, "a client of no app", d.PutOIDCClient(ctx, "AAAAAAAAAAAAAAAAAAAAAA", Digest{}, t0), ErrNotFound)

	wantErr(t, "AddOIDCKey old", d.AddOIDCKey(ctx, OIDCKey{ID: "k1", Sealed: []byte("s1"), CreatedAt: t0}), nil)
	wantErr(t, "AddOIDCKey new", d.AddOIDCKey(ctx, OIDCKey{ID: "k2", Sealed: []byte("s2"), CreatedAt: t0.Add(time.Hour)}), nil)
	keys, err := d.ListOIDCKeys(ctx)
	wantErr(t, "ListOIDCKeys", err, nil)
	wantEqual(t, "keys newest first", []string{keys[0].ID, keys[1].ID}, []string{"k2", "k1"})
	n, err := d.DeleteOIDCKeysBefore(ctx, t0.Add(time.Minute))
	wantErr(t, "DeleteOIDCKeysBefore", err, nil)
	wantEqual(t, "keys deleted", n, int64(1))

	got, err := d.GetOIDCConsent(ctx, u.ID, a.ID)
	wantErr(t, "no consent", err, nil)
	wantEqual(t, "no consent", got, "")
	wantErr(t, "PutOIDCConsent", d.PutOIDCConsent(ctx, u.ID, a.ID, "openid email", t0), nil)
	wantErr(t, "PutOIDCConsent again", d.PutOIDCConsent(ctx, u.ID, a.ID, "openid email wallet", t0), nil)
	got, _ = d.GetOIDCConsent(ctx, u.ID, a.ID)
	wantEqual(t, "consent", got, "openid email wallet")
}

// testOIDCCodeRace spends one code from several requests at once: at
// most one gets the grant, the others are refused as replays, and the
// grant ends (two holders of one code: one of them is not the client).
func testOIDCCodeRace(t *testing.T, st storage) {
	d := st.open(t)
	_, g := oidcFixture(t, d)
	keep := t0.Add(30 * 24 * time.Hour)
	const n = 4
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := d.SpendOIDCCode(ctx, digest("code-1"), t0.Add(time.Minute), keep)
			errs <- err
		}()
	}
	won := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			won++
		default:
			wantErr(t, "a concurrent use of the code", err, ErrRevoked)
		}
	}
	if won > 1 {
		t.Errorf("%d concurrent uses of one code got the grant; want at most 1", won)
	}
	_, err := d.GetOIDCGrant(ctx, g.ID, t0.Add(2*time.Minute))
	wantErr(t, "the grant after concurrent uses of its code", err, ErrRevoked)
}
