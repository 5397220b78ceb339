package oidcop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/sqldb"
)

func TestRequest_AuthFreshFollowsMaxAgeAndPromptLogin(t *testing.T) {
	created := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	dur := func(d time.Duration) *time.Duration { return &d }
	cases := []struct {
		name     string
		maxAge   *time.Duration
		authTime time.Time
		now      time.Time
		fresh    bool
	}{
		{"no max_age", nil, created.Add(-24 * time.Hour), created, true},
		{"within max_age", dur(5 * time.Minute), created.Add(-4 * time.Minute), created, true},
		{"past max_age", dur(5 * time.Minute), created.Add(-6 * time.Minute), created, false},
		{"prompt=login, signed in before the request", dur(0), created.Add(-time.Millisecond), created.Add(time.Minute), false},
		{"prompt=login, signed in after the request", dur(0), created.Add(time.Second), created.Add(time.Minute), true},
		{"an unknown sign-in time", dur(time.Hour), time.Time{}, created, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Request{MaxAge: tc.maxAge, CreatedAt: created}
			if got := r.AuthFresh(tc.authTime, tc.now); got != tc.fresh {
				t.Fatalf("AuthFresh: got %v, want %v", got, tc.fresh)
			}
		})
	}
}

type testDigester [32]byte

func (k testDigester) Digest(purpose, secret string) [32]byte {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(purpose + "\x00" + secret))
	var d [32]byte
	m.Sum(d[:0])
	return d
}

func TestKeyring_ASealedKeyOpensOnlyUnderItsTokenKeyAndID(t *testing.T) {
	db, err := authdb.Open(context.Background(), sqldb.Config{SQLitePath: filepath.Join(t.TempDir(), "k.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := func() time.Time { return time.Now() }
	mine, theirs := newKeyring(db, testDigester{1}, now, nil), newKeyring(db, testDigester{2}, now, nil)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := mine.seal("key-1", priv)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		r    *keyring
		k    authdb.OIDCKey
		ok   bool
	}{
		{"its own key and id", mine, authdb.OIDCKey{ID: "key-1", Sealed: sealed}, true},
		{"another token key", theirs, authdb.OIDCKey{ID: "key-1", Sealed: sealed}, false},
		{"another id", mine, authdb.OIDCKey{ID: "key-2", Sealed: sealed}, false},
		{"a flipped byte", mine, authdb.OIDCKey{ID: "key-1", Sealed: append(append([]byte{}, sealed[:20]...), append([]byte{sealed[20] ^ 1}, sealed[21:]...)...)}, false},
		{"too short", mine, authdb.OIDCKey{ID: "key-1", Sealed: sealed[:10]}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.r.open(tc.k)
			if (err == nil) != tc.ok {
				t.Fatalf("open: %v, want ok %v", err, tc.ok)
			}
			if tc.ok && !got.Equal(priv) {
				t.Fatal("opened another key")
			}
		})
	}
}
