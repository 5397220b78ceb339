package authdb

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

// storage is one empty database (a SQLite file, a PostgreSQL schema).
// Each connect opens it afresh, so a test can reopen the same data.
type storage struct {
	connect func() (*DB, error)
}

// open connects and registers Close with t's cleanup.
func (st storage) open(t *testing.T) *DB {
	t.Helper()
	d, err := st.connect()
	if err != nil {
		t.Fatalf("open: got %v, want nil", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// runConformance runs the behaviour both backends must share, each
// subtest on fresh storage.
func runConformance(t *testing.T, newStorage func(t *testing.T) storage) {
	tests := []struct {
		name string
		run  func(t *testing.T, st storage)
	}{
		// users and identities
		{"CreateUserIsPendingWithTheIdentitiesGiven", testCreateUser},
		{"CreateUserWithATakenIdentityIsErrExistsAndCreatesNoUser", testCreateUserTaken},
		{"WebAuthnHandlesAreKeptOrGeneratedAndUnique", testWebAuthnHandles},
		{"ConcurrentSignUpsForOneEmailCreateOneUser", testConcurrentSignUps},
		{"ActivateMovesAPendingUserToActiveOnce", testActivate},
		{"ListPendingUsersReturnsOldPendingUsersOldestFirst", testListPending},
		{"DeletePendingUserNeverDeletesAnActiveUser", testDeletePending},
		{"DeletePendingUserDeletesEverythingTheUserOwns", testDeleteCascades},
		{"DeletePendingRacingActivateEndsInExactlyOneOutcome", testDeleteActivateRace},
		{"EmailIdentitiesAreUniqueAndKeepTheFirstVerification", testEmailIdentities},
		{"OIDCIdentitiesAreFoundOnlyByProviderAndSubject", testOIDCIdentities},
		// login challenges
		{"AttemptCodeConsumesOnTheRightCodeAndCountsEveryAttempt", testAttemptCode},
		{"ConcurrentWrongCodesNeverExceedMaxCodeAttempts", testConcurrentWrongCodes},
		{"ConcurrentRightCodesConsumeOnce", testConcurrentRightCodes},
		{"ConsumeLinkIsSingleUse", testConsumeLink},
		{"CreateChallengeRefusesBadInput", testCreateChallengeInvalid},
		{"DeleteExpiredChallengesKeepsLiveOnes", testDeleteExpiredChallenges},
		// rate limits
		{"HitCountsPerBucketAndWindow", testHit},
		{"ConcurrentHitsAllowExactlyTheLimit", testConcurrentHits},
		{"AllowIsErrLimitedPastTheLimitAndDoesNotNameTheKey", testAllow},
		{"AllowAllCountsEveryHitInOneTransactionAndNamesThePassedLimit", testAllowAll},
		{"LimitsSlideAndRetryAfterIsWhenTheNextHitIsAllowed", testSlidingWindow},
		{"SpentSaysWhetherTheNextHitWouldPassAndCountsNothing", testSpent},
		{"RetryAfterCoversEveryLimitOfTheCall", testRetryAfterCoversEveryLimit},
		{"DeleteRateLimitWindowsDeletesEndedWindows", testDeleteWindows},
		// sessions
		{"SessionIsUsableUntilItExpiresOrIsRevoked", testSessionLifecycle},
		{"TouchSessionNeverMovesLastSeenBack", testTouchSession},
		{"RotateSessionRevokesTheOldAndCarriesItsExpiry", testRotateSession},
		{"ConcurrentRotationsOfOneSessionHaveOneWinner", testConcurrentRotations},
		{"RevokeRotatedFromEndsTheWholeChainAndNothingElse", testRevokeRotatedFrom},
		{"RevokeSessionIsScopedToItsUser", testRevokeSession},
		{"RevokeOtherSessionsKeepsTheCurrentOne", testRevokeOthers},
		{"ListSessionsListsTheUsersUsableSessions", testListSessions},
		{"DeleteExpiredSessionsKeepsLiveOnes", testDeleteExpiredSessions},
		// credentials
		{"APIKeysAreUniqueByKeyAndRevocable", testAPIKeys},
		{"RevokeAPIKeyEndsTheSessionsSignedInWithIt", testRevokeAPIKeyEndsItsSessions},
		{"TheFirstServerToRecordADeploymentSettingFixesIt", testClaimDeployment},
		{"PasskeysRoundTripEveryField", testPasskeyRoundTrip},
		{"UpdatePasskeyUseNeverMovesTheCounterBack", testPasskeyUse},
		{"PasskeysAreUniqueAndDeletedOnlyByTheirUser", testPasskeyOwnership},
		{"DevicesAreRecordedAndRevocable", testDevices},
		// device pairings
		{"PairingsAreFoundByIDOrCodeOnlyByTheirUserAndApprovedOnce", testPairings},
		{"PairingsAreLimitedPerUserAndExpire", testPairingLimits},
		{"CredentialNamesAreSetReplacedAndClearedPerUser", testCredentialNames},
		// app registry
		{"AppsAreCreatedPendingWithATokenPerOriginAndListedByOwnerAndStatus", testApps},
		{"AppsAreLimitedPerOwner", testAppLimits},
		{"EveryVettingDecisionSetsStatusAndReasonAndIsAudited", testAppVetting},
		// OpenID Provider
		{"AnOIDCCodeIsSpentOnceAndItsReplayRevokesWhatItGot", testOIDCCodes},
		{"AnOIDCRefreshTokenIsUsedOnceAndItsReplayEndsTheFamily", testOIDCRefresh},
		{"OIDCClientsKeysAndConsentsRoundTrip", testOIDCClientsKeysConsents},
		{"ConcurrentUsesOfOneOIDCCodeEndItsGrant", testOIDCCodeRace},
		{"PhishingOverridesAreKeptAndEveryChangeIsAudited", testPhishingOverrides},
		// addresses, audit
		{"PutAddressWritesOnceAndRefusesADifferentValue", testAddresses},
		{"AuditLogAppendsAndPages", testAudit},
		// cross-cutting
		{"NoColumnHoldsAPlaintextSecret", testNoPlaintextSecrets},
		{"InvalidInputIsErrInvalidAndNotEchoed", testInvalidInput},
		{"MigrationsAreIdempotent", testMigrationsIdempotent},
		{"ASchemaNewerThanTheBinaryIsRefused", testNewerSchema},
		{"ConcurrentFirstOpensAllSucceed", testConcurrentOpens},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStorage(t))
		})
	}
}

var (
	ctx = context.Background()
	// t0 is the tests' "now"; later times are t0 plus something.
	t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	// testKey stands for the server's HMAC key.
	testKey = []byte("authdb test key: stands for the server's HMAC key")
)

// digest is what the server computes from a secret before calling authdb.
func digest(secret string) Digest {
	m := hmac.New(sha256.New, testKey)
	m.Write([]byte(secret))
	var d Digest
	copy(d[:], m.Sum(nil))
	return d
}

func mustUser(t *testing.T, d *DB, email string) User {
	t.Helper()
	u, err := d.CreateUser(ctx, NewUser{Email: email}, t0)
	if err != nil {
		t.Fatalf("CreateUser: got %v, want nil", err)
	}
	return u
}

func mustActiveUser(t *testing.T, d *DB, email string) User {
	t.Helper()
	u := mustUser(t, d, email)
	if err := d.ActivateUser(ctx, u.ID, []byte("wallet-cred-"+u.ID), t0); err != nil {
		t.Fatalf("ActivateUser: got %v, want nil", err)
	}
	return u
}

// newSPKI returns a fresh Ed25519 public key as DER SPKI.
func newSPKI(t *testing.T) []byte {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Fatalf("%s: got %v, want nil", what, got)
		}
		return
	}
	if !errors.Is(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// concurrently runs f(0..n-1) in n goroutines released together and
// returns their errors.
func concurrently(n int, f func(i int) error) []error {
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// tally counts errors by the sentinel they wrap (nil for success); an
// error wrapping none of sentinels fails the test.
func tally(t *testing.T, errs []error, sentinels ...error) map[error]int {
	t.Helper()
	got := map[error]int{}
next:
	for i, err := range errs {
		if err == nil {
			got[nil]++
			continue
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				got[s]++
				continue next
			}
		}
		t.Errorf("call %d: got unexpected error %v", i, err)
	}
	return got
}

func describeTally(m map[error]int) string {
	s := ""
	for k, v := range m {
		name := "nil"
		if k != nil {
			name = k.Error()
		}
		s += fmt.Sprintf("[%s: %d] ", name, v)
	}
	return s
}
