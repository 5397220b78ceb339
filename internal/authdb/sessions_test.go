package authdb

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func testHit(t *testing.T, st storage) {
	d := st.open(t)
	type hit struct {
		bucket    string
		window    time.Duration
		at        time.Duration // after t0 (t0 is on a minute boundary)
		wantCount int
		wantAllow bool
	}
	const limit = 2
	hits := []struct {
		name string
		hit
	}{
		{"FirstHit", hit{"a", time.Minute, 0, 1, true}},
		{"SecondHitInTheWindow", hit{"a", time.Minute, 30 * time.Second, 2, true}},
		{"ThirdHitIsOverTheLimit", hit{"a", time.Minute, 59*time.Second + 999*time.Millisecond, 3, false}},
		{"HitsOverTheLimitAreCounted", hit{"a", time.Minute, 59 * time.Second, 4, false}},
		{"NextWindowStartsAfresh", hit{"a", time.Minute, time.Minute, 1, true}},
		{"AnotherBucketIsSeparate", hit{"b", time.Minute, 0, 1, true}},
		{"AnotherWindowLengthIsSeparate", hit{"a", time.Hour, 0, 1, true}},
		{"BucketsAreCaseSensitive", hit{"A", time.Minute, 0, 1, true}},
	}
	for _, tc := range hits {
		t.Run(tc.name, func(t *testing.T) {
			allowed, n, err := d.Hit(ctx, tc.bucket, tc.window, limit, t0.Add(tc.at))
			wantErr(t, "Hit", err, nil)
			if allowed != tc.wantAllow || n != tc.wantCount {
				t.Fatalf("Hit: got allowed=%v count=%d, want allowed=%v count=%d", allowed, n, tc.wantAllow, tc.wantCount)
			}
		})
	}
	invalid := []struct {
		name   string
		bucket string
		window time.Duration
		limit  int
	}{
		{"EmptyBucket", "", time.Minute, 1},
		{"LongBucket", strings.Repeat("b", MaxBucketLen+1), time.Minute, 1},
		{"SubSecondWindow", "a", time.Second - time.Millisecond, 1},
		{"WindowOverTheMaximum", "a", MaxWindow + time.Second, 1},
		{"ZeroLimit", "a", time.Minute, 0},
		{"BucketWithNUL", "a\x00b", time.Minute, 1},
	}
	for _, tc := range invalid {
		t.Run("Invalid/"+tc.name, func(t *testing.T) {
			_, _, err := d.Hit(ctx, tc.bucket, tc.window, tc.limit, t0)
			wantErr(t, "Hit", err, ErrInvalid)
		})
	}
}

func testConcurrentHits(t *testing.T, st storage) {
	d := st.open(t)
	const limit = 7
	counts := make([]int, 20)
	allowed := make([]bool, 20)
	errs := concurrently(20, func(i int) error {
		var err error
		allowed[i], counts[i], err = d.Hit(ctx, "ip:192.0.2.1", time.Minute, limit, t0.Add(time.Duration(i)*time.Millisecond))
		return err
	})
	tally(t, errs)
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("counts of 20 concurrent hits: got %v, want 1..20 each once", counts)
		}
	}
	if n := countTrue(allowed); n != limit {
		t.Fatalf("allowed: got %d of 20, want exactly %d", n, limit)
	}
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func testAllow(t *testing.T, st storage) {
	d := st.open(t)
	l := Limit{Name: "challenges_per_email", Window: time.Hour, Max: 3}
	key := "victim@example.com"
	for i := range l.Max {
		wantErr(t, "Allow within the limit", d.Allow(ctx, l, key, t0.Add(time.Duration(i)*time.Second)), nil)
	}
	err := d.Allow(ctx, l, key, t0.Add(time.Minute))
	wantErr(t, "Allow past the limit", err, ErrLimited)
	if strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), l.Name) {
		t.Fatalf("error %q: want the limit's name and not the key", err)
	}
	wantErr(t, "Allow for another key", d.Allow(ctx, l, "other@example.com", t0), nil)
	wantErr(t, "Allow two windows later", d.Allow(ctx, l, key, t0.Add(2*l.Window)), nil)
	for _, named := range []Limit{ChallengesPerEmail, ChallengesPerIP, FailuresPerIdentifier} {
		wantErr(t, "Allow("+named.Name+")", d.Allow(ctx, named, "k", t0), nil)
	}
}

func testSpent(t *testing.T, st storage) {
	d := st.open(t)
	l := Limit{Name: "spent", Window: time.Hour, Max: 3} // t0 starts a window
	key := "k"
	spent := func(at time.Time) bool {
		t.Helper()
		sp, err := d.Spent(ctx, l, key, at)
		wantErr(t, "Spent", err, nil)
		return sp
	}
	for i := range l.Max {
		if spent(t0.Add(time.Duration(i) * time.Second)) {
			t.Fatalf("Spent after %d hits of %d: true", i, l.Max)
		}
		wantErr(t, "Allow", d.Allow(ctx, l, key, t0.Add(time.Duration(i)*time.Second)), nil)
	}
	// Asking counts nothing: spent now, and an hour on (three hits
	// still weigh most of the previous window), until two windows on.
	for range 5 {
		if !spent(t0.Add(time.Minute)) {
			t.Fatal("Spent after Max hits: false")
		}
	}
	if !spent(t0.Add(l.Window + time.Minute)) {
		t.Fatal("Spent a minute into the next window: false, want the previous window weighed")
	}
	if spent(t0.Add(2 * l.Window)) {
		t.Fatal("Spent two windows on: true")
	}
	wantErr(t, "Allow after the asking, a minute into the next window", d.Allow(ctx, l, key, t0.Add(l.Window+time.Minute)), ErrLimited)
	if sp, err := d.Spent(ctx, l, "other", t0); err != nil || sp {
		t.Fatalf("Spent of another key: %v, %v", sp, err)
	}
}

func testSlidingWindow(t *testing.T, st storage) {
	d := st.open(t)
	l := Limit{Name: "sliding", Window: time.Hour, Max: 4} // t0 starts a window
	at := func(m, s int) time.Time { return t0.Add(time.Duration(m)*time.Minute + time.Duration(s)*time.Second) }
	hitsAt := func(key string, n int, when time.Time) []error {
		errs := make([]error, n)
		for i := range errs {
			errs[i] = d.Allow(ctx, l, key, when)
		}
		return errs
	}
	allowed := func(errs []error) int {
		n := 0
		for _, err := range errs {
			if err == nil {
				n++
			} else if !errors.Is(err, ErrLimited) {
				t.Fatalf("Allow: %v", err)
			}
		}
		return n
	}
	tests := []struct {
		name        string
		history     func(key string)
		probe       time.Time
		wantAllowed int // of 3 hits at probe
	}{
		{"a burst at a window's end and another at the next one's start do not add up",
			func(key string) { hitsAt(key, 4, at(59, 59)) }, at(60, 0), 0},
		{"half a window later the previous window weighs half",
			func(key string) { hitsAt(key, 4, at(59, 0)) }, at(90, 0), 2},
		{"refused hits count nothing, in the next window either",
			func(key string) { hitsAt(key, 10, at(30, 0)) }, at(90, 0), 2},
		{"after a quiet window the count starts afresh",
			func(key string) { hitsAt(key, 4, at(59, 0)) }, at(120, 0), 3},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprint("case", i)
			tc.history(key)
			if got := allowed(hitsAt(key, 3, tc.probe)); got != tc.wantAllowed {
				t.Fatalf("hits allowed at the probe: got %d of 3, want %d", got, tc.wantAllowed)
			}
		})
	}
	// RetryAfter is when the next hit is allowed, to within two seconds:
	// two keys with the same history are refused with the same wait; one
	// is allowed at that wait, the other still refused 2 s before it.
	retry := []struct {
		name    string
		history func(key string)
		refused time.Time
	}{
		{"refused at the start of a window after a full one", func(key string) { hitsAt(key, 4, at(59, 59)) }, at(60, 0)},
		{"refused inside the window that filled up", func(key string) { hitsAt(key, 4, at(10, 0)) }, at(20, 0)},
		{"refused half a window after a full one, the new one half full", func(key string) { hitsAt(key, 4, at(30, 0)); hitsAt(key, 2, at(90, 0)) }, at(90, 0)},
	}
	for i, tc := range retry {
		t.Run("RetryAfter/"+tc.name, func(t *testing.T) {
			var waits [2]time.Duration
			for j := range waits {
				key := fmt.Sprint("retry", i, "-", j)
				tc.history(key)
				le, ok := errors.AsType[*LimitedError](d.Allow(ctx, l, key, tc.refused))
				if !ok || le.RetryAfter <= 2*time.Second || le.RetryAfter > 2*l.Window || le.Limit != l.Name {
					t.Fatalf("the refused hit: got %+v, want a LimitedError naming %s with a wait in (2s, 2h]", le, l.Name)
				}
				waits[j] = le.RetryAfter
			}
			if waits[0] != waits[1] {
				t.Fatalf("the same history gave waits %v and %v", waits[0], waits[1])
			}
			if err := d.Allow(ctx, l, fmt.Sprint("retry", i, "-0"), tc.refused.Add(waits[0])); err != nil {
				t.Fatalf("a hit after RetryAfter (%v): %v", waits[0], err)
			}
			if err := d.Allow(ctx, l, fmt.Sprint("retry", i, "-1"), tc.refused.Add(waits[1]-2*time.Second)); !errors.Is(err, ErrLimited) {
				t.Fatalf("a hit 2 s before RetryAfter (%v): got %v, want ErrLimited", waits[1], err)
			}
		})
	}
}

// RetryAfter of a refusal covers every limit the call passed, not only
// the one it names.
func testRetryAfterCoversEveryLimit(t *testing.T, st storage) {
	d := st.open(t)
	short := Limit{Name: "short", Window: time.Minute, Max: 2}
	long := Limit{Name: "long", Window: time.Hour, Max: 2}
	hits := []LimitHit{{short, "k"}, {long, "k"}}
	for i := range 2 {
		wantErr(t, fmt.Sprintf("AllowAll %d", i+1), d.AllowAll(ctx, hits, t0.Add(time.Duration(i)*time.Second)), nil)
	}
	refusedAt := t0.Add(2 * time.Second)
	le, ok := errors.AsType[*LimitedError](d.AllowAll(ctx, hits, refusedAt))
	if !ok || le.Limit != "short" {
		t.Fatalf("the third hit: got %v, want the short limit passed", le)
	}
	// The short limit alone would allow a retry within two minutes; the
	// long one, now full, not for over an hour.
	if le.RetryAfter < time.Hour {
		t.Fatalf("RetryAfter %v: want the long limit's wait (over an hour)", le.RetryAfter)
	}
	wantErr(t, "AllowAll at RetryAfter", d.AllowAll(ctx, hits, refusedAt.Add(le.RetryAfter)), nil)
}

func testAllowAll(t *testing.T, st storage) {
	d := st.open(t)
	small := Limit{Name: "small", Window: time.Hour, Max: 2}
	big := Limit{Name: "big", Window: time.Hour, Max: 100}
	hits := []LimitHit{{big, "k"}, {small, "k"}}
	for i := range 2 {
		wantErr(t, fmt.Sprintf("AllowAll %d", i+1), d.AllowAll(ctx, hits, t0), nil)
	}
	err := d.AllowAll(ctx, hits, t0)
	wantErr(t, "AllowAll past the small limit", err, ErrLimited)
	if !strings.Contains(err.Error(), "small") || strings.Contains(err.Error(), "big") {
		t.Fatalf("error %q: want the passed limit named, and only it", err)
	}
	// The refused call counted nothing, in the big limit either: two
	// hits there, and this one.
	allowed, n, err := d.Hit(ctx, "big:k", time.Hour, 100, t0)
	if err != nil || !allowed || n != 3 {
		t.Fatalf("the big bucket after two allowed AllowAll and a refused one: got count %d, %v; want 3", n, err)
	}
	wantErr(t, "AllowAll with a bad limit name", d.AllowAll(ctx, []LimitHit{{Limit{Name: "Bad Name", Window: time.Hour, Max: 1}, "k"}}, t0), ErrInvalid)
}

func testDeleteWindows(t *testing.T, st storage) {
	d := st.open(t)
	for _, w := range []time.Duration{time.Minute, time.Hour} {
		if _, _, err := d.Hit(ctx, "a", w, 1, t0); err != nil {
			t.Fatal(err)
		}
	}
	n, err := d.DeleteRateLimitWindows(ctx, t0.Add(time.Minute))
	wantErr(t, "DeleteRateLimitWindows", err, nil)
	if n != 1 {
		t.Fatalf("deleted: got %d, want 1 (the minute window)", n)
	}
	// The hour window still counts.
	allowed, c, err := d.Hit(ctx, "a", time.Hour, 1, t0.Add(time.Minute))
	if err != nil || allowed || c != 2 {
		t.Fatalf("Hit in the kept window: got %v, %d, %v; want false, 2, nil", allowed, c, err)
	}
}

func newSession(userID, token string) NewSession {
	return NewSession{
		ID: digest(token), UserID: userID, Kind: SessionCookie, ExpiresAt: t0.Add(24 * time.Hour),
		Client: Client{UserAgent: "Mozilla/5.0 (test)", IP: netip.MustParseAddr("2001:db8::7")},
	}
}

func mustSession(t *testing.T, d *DB, ns NewSession) Session {
	t.Helper()
	s, err := d.CreateSession(ctx, ns, t0)
	if err != nil {
		t.Fatalf("CreateSession: got %v, want nil", err)
	}
	return s
}

func testSessionLifecycle(t *testing.T, st storage) {
	d := st.open(t)
	u := mustUser(t, d, "")
	ns := newSession(u.ID, "token-1")
	ns.Kind, ns.DeviceCredentialID = SessionBearer, []byte("device-1")
	s := mustSession(t, d, ns)
	want := Session{
		ID: ns.ID, UserID: u.ID, Kind: SessionBearer, CreatedAt: t0, LastSeen: t0, ExpiresAt: t0.Add(24 * time.Hour),
		Client: ns.Client, DeviceCredentialID: []byte("device-1"), AuthTime: t0,
	}
	wantEqual(t, "CreateSession", s, want)

	tests := []struct {
		name string
		id   Digest
		at   time.Duration
		want error
	}{
		{"UsableNow", ns.ID, 0, nil},
		{"UsableJustBeforeExpiry", ns.ID, 24*time.Hour - time.Millisecond, nil},
		{"ExpiredAtExpiresAt", ns.ID, 24 * time.Hour, ErrExpired},
		{"UnknownTokenIsErrNotFound", digest("token-2"), 0, ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.GetSession(ctx, tc.id, t0.Add(tc.at))
			wantErr(t, "GetSession", err, tc.want)
			if err == nil {
				wantEqual(t, "GetSession", got, want)
			}
		})
	}
	wantErr(t, "RevokeSession", d.RevokeSession(ctx, u.ID, ns.ID, t0.Add(time.Hour)), nil)
	got, err := d.GetSession(ctx, ns.ID, t0.Add(2*time.Hour))
	wantErr(t, "GetSession of a revoked session", err, ErrRevoked)
	if got.ID != ns.ID || got.RevokedAt != t0.Add(time.Hour) {
		t.Fatalf("GetSession of a revoked session: got %+v, want it returned with RevokedAt", got)
	}
	_, err = d.CreateSession(ctx, ns, t0)
	wantErr(t, "CreateSession with a used id", err, ErrExists)
	_, err = d.CreateSession(ctx, newSession("00000000-0000-4000-8000-000000000000", "orphan"), t0)
	wantErr(t, "CreateSession for a missing user", err, ErrNotFound)
	long := newSession(u.ID, "long")
	long.ExpiresAt = t0.Add(MaxSessionTTL + time.Millisecond)
	_, err = d.CreateSession(ctx, long, t0)
	wantErr(t, "CreateSession beyond MaxSessionTTL", err, ErrInvalid)
}

func testTouchSession(t *testing.T, st storage) {
	d := st.open(t)
	u := mustUser(t, d, "")
	s := mustSession(t, d, newSession(u.ID, "t"))
	steps := []struct {
		name     string
		at       time.Duration
		want     error
		lastSeen time.Duration
	}{
		{"MovesForward", time.Minute, nil, time.Minute},
		{"NeverMovesBack", 30 * time.Second, nil, time.Minute},
		{"MovesForwardAgain", time.Hour, nil, time.Hour},
		{"ExpiredIsErrExpired", 24 * time.Hour, ErrExpired, time.Hour},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "TouchSession", d.TouchSession(ctx, s.ID, t0.Add(tc.at)), tc.want)
			got, err := d.GetSession(ctx, s.ID, t0)
			wantErr(t, "GetSession", err, nil)
			if got.LastSeen != t0.Add(tc.lastSeen) {
				t.Fatalf("LastSeen: got %v, want %v", got.LastSeen, t0.Add(tc.lastSeen))
			}
		})
	}
	wantErr(t, "TouchSession of an unknown session", d.TouchSession(ctx, digest("none"), t0), ErrNotFound)
	d.RevokeSession(ctx, u.ID, s.ID, t0)
	wantErr(t, "TouchSession of a revoked session", d.TouchSession(ctx, s.ID, t0), ErrRevoked)
}

func testRotateSession(t *testing.T, st storage) {
	d := st.open(t)
	u := mustUser(t, d, "")
	ns := newSession(u.ID, "old")
	ns.DeviceCredentialID = []byte("dev")
	old := mustSession(t, d, ns)
	c := Client{UserAgent: "new agent", IP: netip.MustParseAddr("198.51.100.9")}
	next, err := d.RotateSession(ctx, old.ID, digest("new"), c, t0.Add(time.Hour))
	wantErr(t, "RotateSession", err, nil)
	want := Session{
		ID: digest("new"), UserID: u.ID, Kind: old.Kind, CreatedAt: t0.Add(time.Hour), LastSeen: t0.Add(time.Hour),
		ExpiresAt: old.ExpiresAt, Client: c, DeviceCredentialID: []byte("dev"),
		AuthTime: t0, // a rotation is not a sign-in: max_age still counts from t0
	}
	wantEqual(t, "new session", next, want)
	got, err := d.GetSession(ctx, next.ID, t0.Add(time.Hour))
	wantErr(t, "GetSession of the new session", err, nil)
	wantEqual(t, "stored new session", got, want)

	replayed, err := d.GetSession(ctx, old.ID, t0.Add(2*time.Hour))
	wantErr(t, "GetSession of the rotated session", err, ErrRevoked)
	if replayed.RotatedTo != next.ID {
		t.Fatalf("rotated session: RotatedTo got %x, want %x", replayed.RotatedTo, next.ID)
	}

	taken := mustSession(t, d, newSession(u.ID, "taken"))
	tests := []struct {
		name     string
		old, new Digest
		at       time.Duration
		want     error
	}{
		{"ARotatedSessionAgainIsErrRevoked", old.ID, digest("newer"), time.Hour, ErrRevoked},
		{"AnUnknownSessionIsErrNotFound", digest("unknown"), digest("newer"), time.Hour, ErrNotFound},
		{"AnExpiredSessionIsErrExpired", next.ID, digest("newer"), 24 * time.Hour, ErrExpired},
		{"ToATakenIDIsErrExistsAndChangesNothing", next.ID, taken.ID, time.Hour, ErrExists},
		{"ToItselfIsErrInvalid", next.ID, next.ID, time.Hour, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.RotateSession(ctx, tc.old, tc.new, c, t0.Add(tc.at))
			wantErr(t, "RotateSession", err, tc.want)
		})
	}
	// After the refused rotation to a taken id, the session is untouched.
	if _, err := d.GetSession(ctx, next.ID, t0.Add(time.Hour)); err != nil {
		t.Fatalf("GetSession after a refused rotation: got %v, want nil", err)
	}
}

func testRevokeRotatedFrom(t *testing.T, st storage) {
	d := st.open(t)
	u := mustUser(t, d, "")
	other := mustUser(t, d, "")
	// a → b → c → d, rotated an hour apart; e is another session of the
	// user, f one of another user.
	chain := []Digest{mustSession(t, d, newSession(u.ID, "a")).ID}
	for i, name := range []string{"b", "c", "d"} {
		next, err := d.RotateSession(ctx, chain[len(chain)-1], digest(name), Client{}, t0.Add(time.Duration(i+1)*time.Hour))
		wantErr(t, "RotateSession", err, nil)
		chain = append(chain, next.ID)
	}
	e := mustSession(t, d, newSession(u.ID, "e"))
	f := mustSession(t, d, newSession(other.ID, "f"))
	at := t0.Add(5 * time.Hour)

	n, err := d.RevokeRotatedFrom(ctx, other.ID, chain[0], at)
	wantErr(t, "RevokeRotatedFrom as another user", err, nil)
	if n != 0 {
		t.Fatalf("RevokeRotatedFrom as another user revoked %d sessions, want 0", n)
	}
	if _, err := d.GetSession(ctx, chain[3], at); err != nil {
		t.Fatalf("the chain's newest session after another user's call: %v", err)
	}
	n, err = d.RevokeRotatedFrom(ctx, u.ID, chain[0], at)
	wantErr(t, "RevokeRotatedFrom", err, nil)
	if n != 1 { // b and c were revoked by their rotations; d is the one left
		t.Fatalf("RevokeRotatedFrom revoked %d sessions, want 1 (the chain's newest)", n)
	}
	for i, id := range chain {
		_, err := d.GetSession(ctx, id, at)
		wantErr(t, fmt.Sprintf("GetSession of chain session %d", i), err, ErrRevoked)
	}
	for name, id := range map[string]Digest{"the user's other session": e.ID, "another user's session": f.ID} {
		if _, err := d.GetSession(ctx, id, at); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	n, err = d.RevokeRotatedFrom(ctx, u.ID, digest("unknown"), at)
	if err != nil || n != 0 {
		t.Fatalf("RevokeRotatedFrom of an unknown session: %d, %v; want 0, nil", n, err)
	}
}

func testConcurrentRotations(t *testing.T, st storage) {
	d := st.open(t)
	u := mustUser(t, d, "")
	old := mustSession(t, d, newSession(u.ID, "old"))
	errs := concurrently(20, func(i int) error {
		_, err := d.RotateSession(ctx, old.ID, digest(fmt.Sprint("new-", i)), Client{}, t0.Add(time.Minute))
		return err
	})
	got := tally(t, errs, ErrRevoked)
	if got[nil] != 1 || got[ErrRevoked] != 19 {
		t.Fatalf("20 concurrent rotations: got %s, want 1 success and 19 ErrRevoked", describeTally(got))
	}
	live, err := d.ListSessions(ctx, u.ID, t0.Add(time.Minute))
	wantErr(t, "ListSessions", err, nil)
	stale, _ := d.GetSession(ctx, old.ID, t0)
	if len(live) != 1 || live[0].ID != stale.RotatedTo {
		t.Fatalf("after the race: got %d usable sessions, want exactly the one the old session points to", len(live))
	}
}

func testRevokeSession(t *testing.T, st storage) {
	d := st.open(t)
	alice, mallory := mustUser(t, d, ""), mustUser(t, d, "")
	s := mustSession(t, d, newSession(alice.ID, "alice"))
	wantErr(t, "RevokeSession by another user", d.RevokeSession(ctx, mallory.ID, s.ID, t0), ErrNotFound)
	if _, err := d.GetSession(ctx, s.ID, t0); err != nil {
		t.Fatalf("GetSession after another user's revoke: got %v, want nil", err)
	}
	wantErr(t, "RevokeSession", d.RevokeSession(ctx, alice.ID, s.ID, t0.Add(time.Minute)), nil)
	wantErr(t, "RevokeSession again", d.RevokeSession(ctx, alice.ID, s.ID, t0.Add(time.Hour)), nil)
	got, _ := d.GetSession(ctx, s.ID, t0)
	if got.RevokedAt != t0.Add(time.Minute) {
		t.Fatalf("RevokedAt: got %v, want the first revocation %v", got.RevokedAt, t0.Add(time.Minute))
	}
	wantErr(t, "RevokeSession of an unknown session", d.RevokeSession(ctx, alice.ID, digest("x"), t0), ErrNotFound)
}

func testRevokeOthers(t *testing.T, st storage) {
	d := st.open(t)
	u, other := mustUser(t, d, ""), mustUser(t, d, "")
	for _, tok := range []string{"a", "b", "c"} {
		mustSession(t, d, newSession(u.ID, tok))
	}
	mustSession(t, d, newSession(other.ID, "o"))
	n, err := d.RevokeOtherSessions(ctx, u.ID, digest("b"), t0)
	if err != nil || n != 2 {
		t.Fatalf("RevokeOtherSessions: got %d, %v; want 2, nil", n, err)
	}
	for tok, want := range map[string]error{"a": ErrRevoked, "b": nil, "c": ErrRevoked, "o": nil} {
		_, err := d.GetSession(ctx, digest(tok), t0)
		wantErr(t, "GetSession "+tok, err, want)
	}
	n, err = d.RevokeOtherSessions(ctx, u.ID, Digest{}, t0)
	if err != nil || n != 1 {
		t.Fatalf("RevokeOtherSessions keeping none: got %d, %v; want 1, nil", n, err)
	}
}

func testListSessions(t *testing.T, st storage) {
	d := st.open(t)
	u, other := mustUser(t, d, ""), mustUser(t, d, "")
	short := newSession(u.ID, "short")
	short.ExpiresAt = t0.Add(time.Minute)
	mustSession(t, d, short)
	long := mustSession(t, d, newSession(u.ID, "long"))
	revoked := mustSession(t, d, newSession(u.ID, "revoked"))
	d.RevokeSession(ctx, u.ID, revoked.ID, t0)
	mustSession(t, d, newSession(other.ID, "other"))
	got, err := d.ListSessions(ctx, u.ID, t0.Add(time.Minute))
	wantErr(t, "ListSessions", err, nil)
	wantEqual(t, "ListSessions", got, []Session{long})
}

func testDeleteExpiredSessions(t *testing.T, st storage) {
	d := st.open(t)
	u := mustUser(t, d, "")
	short := newSession(u.ID, "short")
	short.ExpiresAt = t0.Add(time.Minute)
	mustSession(t, d, short)
	mustSession(t, d, newSession(u.ID, "long"))
	n, err := d.DeleteExpiredSessions(ctx, t0.Add(time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpiredSessions: got %d, %v; want 1, nil", n, err)
	}
	_, err = d.GetSession(ctx, digest("short"), t0)
	wantErr(t, "GetSession of the deleted session", err, ErrNotFound)
	_, err = d.GetSession(ctx, digest("long"), t0)
	if errors.Is(err, ErrNotFound) {
		t.Fatalf("the live session was deleted")
	}
}
