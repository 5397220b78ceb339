package authdb

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/sqldb"
)

// dumpTables reads every value of every table of the database as bytes
// (text and blobs as they are, other values formatted), keyed by
// "table.column".
func dumpTables(t *testing.T, d *DB) map[string][][]byte {
	t.Helper()
	list := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if d.db.Name() == sqldb.Postgres {
		list = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := d.db.Query(list)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	out := map[string][][]byte{}
	for _, table := range tables {
		rows, err := d.db.Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("scan %s: %v", table, err)
			}
			for i, v := range vals {
				var b []byte
				switch v := v.(type) {
				case []byte:
					b = v
				case string:
					b = []byte(v)
				case nil:
					continue
				default:
					b = fmt.Append(nil, v)
				}
				key := table + "." + cols[i]
				out[key] = append(out[key], b)
			}
		}
		rows.Close()
		out[table] = nil // the table exists, even if empty
	}
	return out
}

// encodings are the forms a secret could be stored in by mistake.
func encodings(secret []byte) [][]byte {
	return [][]byte{
		secret,
		[]byte(hex.EncodeToString(secret)),
		[]byte(strings.ToUpper(hex.EncodeToString(secret))),
		[]byte(base64.StdEncoding.EncodeToString(secret)),
		[]byte(base64.RawURLEncoding.EncodeToString(secret)),
	}
}

// findIn returns the columns holding needle in any of its encodings.
func findIn(dump map[string][][]byte, needle []byte) []string {
	var where []string
	for col, vals := range dump {
		for _, v := range vals {
			for _, enc := range encodings(needle) {
				if bytes.Contains(v, enc) {
					where = append(where, col)
				}
			}
		}
	}
	slices.Sort(where)
	return slices.Compact(where)
}

// testNoPlaintextSecrets goes through every flow that handles a secret,
// then reads back every column of every table and looks for the secrets.
// Canaries placed in a text and a blob column prove the search can see.
func testNoPlaintextSecrets(t *testing.T, st storage) {
	d := st.open(t)
	var (
		code      = "493817"
		wrongCode = "111111"
		linkToken = "mlk_Zk3v9Qm2Xw8Tt7RrYp4L"
		otherLink = "mlk_Pq8Ww3Ee5Rr1Tt6Yy2Uu"
		session   = "ses_Bb7Nn2Mm9Kk4Jj1Hh6Gg3Ff"
		rotated   = "ses_Cc8Vv3Xx0Zz5Ll2Pp7Oo4Ii"
		bearer    = "ses_Dd9Ss4Aa1Qq6Ww3Ee8Rr5Tt"
	)
	secrets := []string{code, wrongCode, linkToken, otherLink, session, rotated, bearer, string(testKey)}
	const textCanary, blobCanary = "canary-text-Q1w2E3", "canary-blob-R4t5Y6"

	u, err := d.CreateUser(ctx, NewUser{Email: "alice@example.com", EmailVerifiedAt: t0}, t0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.CreateChallenge(ctx, NewChallenge{Email: "alice@example.com", Purpose: PurposeSignIn,
		Code: digest(code), Link: digest(linkToken), IP: netip.MustParseAddr("192.0.2.1"), ExpiresAt: t0.Add(10 * time.Minute)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.AttemptCode(ctx, c.ID, digest(wrongCode), t0); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong code: got %v, want ErrMismatch", err)
	}
	if _, err := d.AttemptCode(ctx, c.ID, digest(code), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateChallenge(ctx, NewChallenge{Email: "alice@example.com", Purpose: PurposeSignIn,
		Link: digest(otherLink), ExpiresAt: t0.Add(10 * time.Minute)}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ConsumeLink(ctx, digest(otherLink), t0); err != nil {
		t.Fatal(err)
	}
	if err := d.Allow(ctx, FailuresPerIdentifier, "alice@example.com", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateSession(ctx, NewSession{ID: digest(session), UserID: u.ID, Kind: SessionCookie,
		ExpiresAt: t0.Add(time.Hour), Client: Client{UserAgent: "test"}}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RotateSession(ctx, digest(session), digest(rotated), Client{}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateSession(ctx, NewSession{ID: digest(bearer), UserID: u.ID, Kind: SessionBearer,
		ExpiresAt: t0.Add(time.Hour), DeviceCredentialID: []byte(blobCanary)}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AppendAudit(ctx, AuditEvent{At: t0, UserID: u.ID, Event: "session.rotated",
		Detail: json.RawMessage(`{"note":"` + textCanary + `"}`)}); err != nil {
		t.Fatal(err)
	}

	dump := dumpTables(t, d)
	for _, table := range []string{"users", "email_identities", "login_challenges", "rate_limits", "sessions",
		"api_keys", "passkeys", "oidc_identities", "devices", "addresses", "audit_log", "schema_migrations"} {
		if _, ok := dump[table]; !ok {
			t.Fatalf("table %s was not read: the search would miss it", table)
		}
	}
	if got := findIn(dump, []byte(textCanary)); !slices.Equal(got, []string{"audit_log.detail"}) {
		t.Fatalf("text canary: found in %v, want audit_log.detail: the search is blind", got)
	}
	if got := findIn(dump, []byte(blobCanary)); !slices.Equal(got, []string{"sessions.device_credential_id"}) {
		t.Fatalf("blob canary: found in %v, want sessions.device_credential_id: the search is blind", got)
	}
	for _, s := range secrets {
		if where := findIn(dump, []byte(s)); len(where) > 0 {
			t.Errorf("secret %q is stored in %v, want it nowhere", s, where)
		}
	}
	// And the digests are there: they are what is stored instead.
	codeDigest := digest(code)
	if got := findIn(dump, codeDigest[:]); !slices.Equal(got, []string{"login_challenges.code_digest"}) {
		t.Errorf("code digest: found in %v, want login_challenges.code_digest", got)
	}
}

// testInvalidInput checks that malformed input is refused before the
// database, as ErrInvalid, with an error that does not repeat the input
// (it may be a secret a user pasted in the wrong place).
func testInvalidInput(t *testing.T, st storage) {
	d := st.open(t)
	u := mustUser(t, d, "")
	const secret = "S3CRET-pasted-token"
	calls := []struct {
		name string
		do   func() error
	}{
		{"GetUserWithANonUUID", func() error { _, err := d.GetUser(ctx, secret); return err }},
		{"GetUserWithAnUppercaseUUID", func() error { _, err := d.GetUser(ctx, strings.ToUpper(u.ID)); return err }},
		{"LookupEmailWithoutAt", func() error { _, err := d.LookupEmail(ctx, secret); return err }},
		{"LookupEmailWithUppercase", func() error { _, err := d.LookupEmail(ctx, secret+"@example.com"); return err }},
		{"LookupEmailOver254Bytes", func() error {
			_, err := d.LookupEmail(ctx, strings.Repeat("a", 250)+"@b.cd")
			return err
		}},
		{"AttemptCodeWithAMalformedFlowID", func() error { _, err := d.AttemptCode(ctx, secret, digest("1"), t0); return err }},
		{"AttemptCodeWithAZeroDigest", func() error {
			_, err := d.AttemptCode(ctx, "AAAAAAAAAAAAAAAAAAAAAA", Digest{}, t0)
			return err
		}},
		{"ConsumeLinkWithAZeroDigest", func() error { _, err := d.ConsumeLink(ctx, Digest{}, t0); return err }},
		{"ParseDigestOfAToken", func() error { _, err := ParseDigest(secret); return err }},
		{"GetAPIKeyWithANonHexID", func() error { _, err := d.GetAPIKey(ctx, secret); return err }},
		{"LookupOIDCWithAControlCharacter", func() error { _, err := d.LookupOIDC(ctx, "p", secret+"\n"); return err }},
		{"LookupOIDCWithASubjectOver255Bytes", func() error {
			_, err := d.LookupOIDC(ctx, "p", strings.Repeat(secret, 20))
			return err
		}},
		{"CreateSessionWithANULInTheUserAgent", func() error {
			ns := newSession(u.ID, "x")
			ns.Client.UserAgent = secret + "\x00"
			_, err := d.CreateSession(ctx, ns, t0)
			return err
		}},
		{"CreateSessionWithALongUserAgent", func() error {
			ns := newSession(u.ID, "x")
			ns.Client.UserAgent = strings.Repeat(secret, 30)
			_, err := d.CreateSession(ctx, ns, t0)
			return err
		}},
		{"CreateSessionWithAZeroID", func() error {
			ns := newSession(u.ID, "x")
			ns.ID = Digest{}
			_, err := d.CreateSession(ctx, ns, t0)
			return err
		}},
		{"CreateSessionOfAnUnknownKind", func() error {
			ns := newSession(u.ID, "x")
			ns.Kind = SessionKind(secret)
			_, err := d.CreateSession(ctx, ns, t0)
			return err
		}},
		{"HitWithInvalidUTF8", func() error { _, _, err := d.Hit(ctx, secret+"\xff", time.Minute, 1, t0); return err }},
		{"ZeroNow", func() error { _, err := d.CreateUser(ctx, NewUser{}, time.Time{}); return err }},
		{"NowAfterYear9999", func() error {
			_, err := d.CreateUser(ctx, NewUser{}, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
			return err
		}},
		{"ListLimitZero", func() error { _, err := d.ListPendingUsers(ctx, t0, 0); return err }},
		{"ListLimitOverMax", func() error { _, err := d.ListPendingUsers(ctx, t0, MaxListLimit+1); return err }},
		{"GetAddressWithAPathNotStartingAtM", func() error { _, err := d.GetAddress(ctx, u.ID, "eth", secret); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.do()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(strings.ToLower(err.Error()), strings.ToLower(secret)) {
				t.Fatalf("error %q repeats the input", err)
			}
		})
	}
	// Nothing was written.
	if users, _ := d.ListPendingUsers(ctx, t0.Add(time.Hour), MaxListLimit); len(users) != 1 {
		t.Fatalf("users after the invalid calls: got %d, want 1", len(users))
	}
	if ss, _ := d.ListSessions(ctx, u.ID, t0); len(ss) != 0 {
		t.Fatalf("sessions after the invalid calls: got %d, want 0", len(ss))
	}
}

func testMigrationsIdempotent(t *testing.T, st storage) {
	d1 := st.open(t)
	u := mustUser(t, d1, "kept@example.com")
	d2 := st.open(t) // while d1 is open
	d3 := st.open(t)
	ms, err := Migrations.Load(d1.db.Name())
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range []*DB{d1, d2, d3} {
		v, err := d.db.SchemaVersion(ctx, Migrations.Name)
		if err != nil || v != len(ms) {
			t.Fatalf("handle %d: schema version got %d, %v; want %d", i, v, err, len(ms))
		}
		var rows int
		if err := d.db.QueryRow(d.q(`SELECT COUNT(*) FROM schema_migrations WHERE set_name = ?`), Migrations.Name).Scan(&rows); err != nil || rows != len(ms) {
			t.Fatalf("handle %d: schema_migrations rows got %d, %v; want %d", i, rows, err, len(ms))
		}
		if _, err := d.GetUser(ctx, u.ID); err != nil {
			t.Fatalf("handle %d: GetUser: got %v, want the user", i, err)
		}
	}
}

func testNewerSchema(t *testing.T, st storage) {
	d := st.open(t)
	if _, err := d.db.Exec(d.q(`INSERT INTO schema_migrations (set_name, version) VALUES (?, ?)`), Migrations.Name, 9999); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d, err := st.connect()
	if err == nil {
		d.Close()
		t.Fatalf("Open on a newer schema: got nil, want an error")
	}
	if !strings.Contains(err.Error(), "schema version 9999 is newer") {
		t.Fatalf("got %q, want it to say the schema is newer", err)
	}
}

func testConcurrentOpens(t *testing.T, st storage) {
	const n = 8
	dbs := make([]*DB, n)
	errs := concurrently(n, func(i int) error {
		var err error
		dbs[i], err = st.connect()
		return err
	})
	for i, d := range dbs {
		if d != nil {
			t.Cleanup(func() { d.Close() })
		}
		if errs[i] != nil {
			t.Errorf("concurrent open %d: got %v, want nil", i, errs[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	u := mustUser(t, dbs[0], "")
	if _, err := dbs[n-1].GetUser(ctx, u.ID); err != nil {
		t.Fatalf("GetUser through another handle: got %v, want the user", err)
	}
}
