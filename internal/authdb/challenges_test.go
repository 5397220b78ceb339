package authdb

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func mustChallenge(t *testing.T, d *DB, code, link string) Challenge {
	t.Helper()
	nc := NewChallenge{Email: "a@example.com", Purpose: PurposeSignIn, IP: netip.MustParseAddr("192.0.2.7"), ExpiresAt: t0.Add(10 * time.Minute)}
	if code != "" {
		nc.Code = digest(code)
	}
	if link != "" {
		nc.Link = digest(link)
	}
	c, err := d.CreateChallenge(ctx, nc, t0)
	if err != nil {
		t.Fatalf("CreateChallenge: got %v, want nil", err)
	}
	return c
}

func testAttemptCode(t *testing.T, st storage) {
	d := st.open(t)
	type attempt struct {
		code string
		at   time.Duration // after t0
		want error
	}
	tests := []struct {
		name         string
		link         bool // the challenge has a link too
		attempts     []attempt
		wantAttempts int
		wantConsumed bool
	}{
		{"RightCodeConsumes", false, []attempt{{"123456", time.Minute, nil}}, 1, true},
		{"WrongThenRight", false, []attempt{{"000000", 0, ErrMismatch}, {"123456", time.Minute, nil}}, 2, true},
		{"RightCodeTwiceIsErrConsumed", false, []attempt{{"123456", 0, nil}, {"123456", 0, ErrConsumed}}, 1, true},
		{"AnyCodeAfterConsumptionIsErrConsumed", false, []attempt{{"123456", 0, nil}, {"000000", 0, ErrConsumed}}, 1, true},
		{"RightCodeOnTheLastAttemptConsumes", false, []attempt{
			{"1", 0, ErrMismatch}, {"2", 0, ErrMismatch}, {"3", 0, ErrMismatch}, {"4", 0, ErrMismatch}, {"123456", 0, nil},
		}, MaxCodeAttempts, true},
		{"RightCodeAfterMaxWrongAttemptsIsRefused", false, []attempt{
			{"1", 0, ErrMismatch}, {"2", 0, ErrMismatch}, {"3", 0, ErrMismatch}, {"4", 0, ErrMismatch}, {"5", 0, ErrMismatch},
			{"123456", 0, ErrTooManyAttempts}, {"6", 0, ErrTooManyAttempts},
		}, MaxCodeAttempts, false},
		{"RightCodeJustBeforeExpiry", false, []attempt{{"123456", 10*time.Minute - time.Millisecond, nil}}, 1, true},
		{"RightCodeAtExpiryIsErrExpired", false, []attempt{{"123456", 10 * time.Minute, ErrExpired}}, 0, false},
		{"ExpiryIsNotCountedAsAnAttempt", false, []attempt{{"000000", time.Hour, ErrExpired}, {"123456", time.Hour, ErrExpired}}, 0, false},
		{"CodeAndLinkChallengeTakesTheCode", true, []attempt{{"123456", 0, nil}}, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			link := ""
			if tc.link {
				link = "link-" + tc.name
			}
			c := mustChallenge(t, d, "123456", link)
			for i, a := range tc.attempts {
				got, err := d.AttemptCode(ctx, c.ID, digest(a.code), t0.Add(a.at))
				wantErr(t, fmt.Sprintf("attempt %d", i+1), err, a.want)
				if a.want == nil && (got.ID != c.ID || got.Email != c.Email || got.ConsumedAt.IsZero()) {
					t.Fatalf("attempt %d: got %+v, want the consumed challenge %s", i+1, got, c.ID)
				}
			}
			got, err := d.GetChallenge(ctx, c.ID)
			wantErr(t, "GetChallenge", err, nil)
			if got.Attempts != tc.wantAttempts || got.ConsumedAt.IsZero() == tc.wantConsumed {
				t.Fatalf("after the attempts: got %d attempts, consumed at %v; want %d attempts, consumed %v",
					got.Attempts, got.ConsumedAt, tc.wantAttempts, tc.wantConsumed)
			}
		})
	}
	t.Run("UnknownChallengeIsErrNotFound", func(t *testing.T) {
		_, err := d.AttemptCode(ctx, "AAAAAAAAAAAAAAAAAAAAAA", digest("123456"), t0)
		wantErr(t, "AttemptCode", err, ErrNotFound)
	})
	t.Run("LinkOnlyChallengeTakesNoCode", func(t *testing.T) {
		c := mustChallenge(t, d, "", "only-a-link")
		_, err := d.AttemptCode(ctx, c.ID, digest("123456"), t0)
		wantErr(t, "AttemptCode", err, ErrInvalid)
	})
	t.Run("MismatchSaysWhichAttempt", func(t *testing.T) {
		c := mustChallenge(t, d, "123456", "")
		_, err := d.AttemptCode(ctx, c.ID, digest("654321"), t0)
		if err == nil || !strings.Contains(err.Error(), "attempt 1 of 5") {
			t.Fatalf("AttemptCode: got %v, want it to say attempt 1 of 5", err)
		}
	})
}

func testConcurrentWrongCodes(t *testing.T, st storage) {
	d := st.open(t)
	c := mustChallenge(t, d, "123456", "")
	errs := concurrently(20, func(i int) error {
		_, err := d.AttemptCode(ctx, c.ID, digest("wrong"), t0)
		return err
	})
	got := tally(t, errs, ErrMismatch, ErrTooManyAttempts)
	if got[ErrMismatch] != MaxCodeAttempts || got[ErrTooManyAttempts] != 20-MaxCodeAttempts {
		t.Fatalf("20 concurrent wrong codes: got %s, want %d ErrMismatch and %d ErrTooManyAttempts",
			describeTally(got), MaxCodeAttempts, 20-MaxCodeAttempts)
	}
	stored, err := d.GetChallenge(ctx, c.ID)
	wantErr(t, "GetChallenge", err, nil)
	if stored.Attempts != MaxCodeAttempts {
		t.Fatalf("stored attempts: got %d, want %d", stored.Attempts, MaxCodeAttempts)
	}
	_, err = d.AttemptCode(ctx, c.ID, digest("123456"), t0)
	wantErr(t, "the right code afterwards", err, ErrTooManyAttempts)
}

func testConcurrentRightCodes(t *testing.T, st storage) {
	d := st.open(t)
	c := mustChallenge(t, d, "123456", "")
	errs := concurrently(20, func(i int) error {
		_, err := d.AttemptCode(ctx, c.ID, digest("123456"), t0)
		return err
	})
	got := tally(t, errs, ErrConsumed)
	if got[nil] != 1 || got[ErrConsumed] != 19 {
		t.Fatalf("20 concurrent right codes: got %s, want 1 success and 19 ErrConsumed", describeTally(got))
	}
}

func testConsumeLink(t *testing.T, st storage) {
	d := st.open(t)
	tests := []struct {
		name  string
		setup func(c Challenge) // before the uses
		uses  []time.Duration   // after t0
		want  []error
	}{
		{"FirstUseSucceeds", nil, []time.Duration{time.Minute}, []error{nil}},
		{"SecondUseIsErrConsumed", nil, []time.Duration{0, 0}, []error{nil, ErrConsumed}},
		{"UseAtExpiryIsErrExpired", nil, []time.Duration{10 * time.Minute}, []error{ErrExpired}},
		{"UseAfterTheCodeWasUsedIsErrConsumed", func(c Challenge) {
			if _, err := d.AttemptCode(ctx, c.ID, digest("123456"), t0); err != nil {
				t.Fatal(err)
			}
		}, []time.Duration{0}, []error{ErrConsumed}},
		{"UseAfterMaxWrongCodesIsErrTooManyAttempts", func(c Challenge) {
			for range MaxCodeAttempts {
				d.AttemptCode(ctx, c.ID, digest("wrong"), t0)
			}
		}, []time.Duration{0}, []error{ErrTooManyAttempts}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token := "magic-link-token-for-" + tc.name
			c := mustChallenge(t, d, "123456", token)
			if tc.setup != nil {
				tc.setup(c)
			}
			for i, at := range tc.uses {
				got, err := d.ConsumeLink(ctx, digest(token), t0.Add(at))
				wantErr(t, fmt.Sprintf("use %d", i+1), err, tc.want[i])
				if err == nil && (got.ID != c.ID || got.ConsumedAt != t0.Add(at)) {
					t.Fatalf("use %d: got %+v, want challenge %s consumed at %v", i+1, got, c.ID, t0.Add(at))
				}
			}
		})
	}
	t.Run("UnknownLinkIsErrNotFound", func(t *testing.T) {
		_, err := d.ConsumeLink(ctx, digest("never issued"), t0)
		wantErr(t, "ConsumeLink", err, ErrNotFound)
	})
	t.Run("ConcurrentUsesHaveOneWinner", func(t *testing.T) {
		mustChallenge(t, d, "", "contested-link")
		errs := concurrently(20, func(int) error {
			_, err := d.ConsumeLink(ctx, digest("contested-link"), t0)
			return err
		})
		got := tally(t, errs, ErrConsumed)
		if got[nil] != 1 || got[ErrConsumed] != 19 {
			t.Fatalf("20 concurrent uses: got %s, want 1 success and 19 ErrConsumed", describeTally(got))
		}
	})
}

func testCreateChallengeInvalid(t *testing.T, st storage) {
	d := st.open(t)
	good := NewChallenge{Email: "a@example.com", Purpose: PurposeSignIn, Code: digest("1"), ExpiresAt: t0.Add(time.Minute)}
	if _, err := d.CreateChallenge(ctx, good, t0); err != nil {
		t.Fatal(err)
	}
	withLink := good
	withLink.Link = digest("link")
	if _, err := d.CreateChallenge(ctx, withLink, t0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(nc *NewChallenge)
		want   error
	}{
		{"NoDigest", func(nc *NewChallenge) { nc.Code = Digest{} }, ErrInvalid},
		{"AlreadyExpired", func(nc *NewChallenge) { nc.ExpiresAt = t0 }, ErrInvalid},
		{"LivesTooLong", func(nc *NewChallenge) { nc.ExpiresAt = t0.Add(MaxChallengeTTL + time.Millisecond) }, ErrInvalid},
		{"LivesExactlyTheMaximum", func(nc *NewChallenge) { nc.ExpiresAt = t0.Add(MaxChallengeTTL) }, nil},
		{"UppercasePurpose", func(nc *NewChallenge) { nc.Purpose = "Sign_In" }, ErrInvalid},
		{"EmptyPurpose", func(nc *NewChallenge) { nc.Purpose = "" }, ErrInvalid},
		{"BadEmail", func(nc *NewChallenge) { nc.Email = "no-at-sign" }, ErrInvalid},
		{"ALinkDigestInUse", func(nc *NewChallenge) { nc.Link = digest("link") }, ErrExists},
		{"NoIPIsFine", func(nc *NewChallenge) { nc.IP = netip.Addr{} }, nil},
		{"IPv6", func(nc *NewChallenge) { nc.IP = netip.MustParseAddr("2001:db8::1") }, nil},
		{"ALongCodeIsKeptAsOne", func(nc *NewChallenge) { nc.LongCode = true }, nil},
		{"ALongCodeWithoutACode", func(nc *NewChallenge) { nc.LongCode, nc.Code, nc.Link = true, Digest{}, digest("link2") }, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nc := good
			tc.change(&nc)
			c, err := d.CreateChallenge(ctx, nc, t0)
			wantErr(t, "CreateChallenge", err, tc.want)
			if err != nil {
				return
			}
			got, err := d.GetChallenge(ctx, c.ID)
			wantErr(t, "GetChallenge", err, nil)
			wantEqual(t, "stored challenge", got, c)
		})
	}
}

func testDeleteExpiredChallenges(t *testing.T, st storage) {
	d := st.open(t)
	var ids []string
	for i := 1; i <= 3; i++ {
		c, err := d.CreateChallenge(ctx, NewChallenge{Email: "a@example.com", Purpose: PurposeSignIn, Code: digest("c"), ExpiresAt: t0.Add(time.Duration(i) * time.Minute)}, t0)
		wantErr(t, "CreateChallenge", err, nil)
		ids = append(ids, c.ID)
	}
	n, err := d.DeleteExpiredChallenges(ctx, t0.Add(2*time.Minute))
	wantErr(t, "DeleteExpiredChallenges", err, nil)
	if n != 2 {
		t.Fatalf("deleted: got %d, want 2", n)
	}
	for i, want := range []error{ErrNotFound, ErrNotFound, nil} {
		_, err := d.GetChallenge(ctx, ids[i])
		wantErr(t, "GetChallenge "+ids[i], err, want)
	}
}
