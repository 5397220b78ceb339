package store

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// A second, deliberately different statement of the input rules: the
// fuzzer checks the hand-written validators against it.
var refKind = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

func refValidID(id string, minLen int) bool {
	return len(id) >= minLen && len(id) <= 256 && utf8.ValidString(id) && !strings.ContainsRune(id, 0)
}

func refValidObject(o Object) bool {
	return refKind.MatchString(o.Kind) && refValidID(o.ID, 1) &&
		o.Version >= 1 && o.Version <= 1<<63-1 &&
		len(o.Blob) >= 1 && len(o.Blob) <= 1<<20
}

// FuzzValidation checks that input validation never panics, accepts
// exactly what the rules allow, reports rejections as ErrInvalid, and that
// everything it accepts is stored and read back exactly by SQLite.
func FuzzValidation(f *testing.F) {
	f.Add("wallet", "w1", uint64(1), []byte{0}, "", 10)
	f.Add("master", "ünï 🔑", uint64(1<<63-1), []byte("sealed"), "a", 1000)
	f.Add("Wallet", "\x00", uint64(0), []byte{}, "\xff", 0)
	f.Add(strings.Repeat("k", 33), strings.Repeat("i", 257), uint64(1<<63), []byte(nil), strings.Repeat("a", 257), 1001)
	f.Add("k_9", "\xed\xa0\x80", ^uint64(0), []byte{1, 2, 3}, "a\x00", -1)

	s, err := OpenSQLite(filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, kind, id string, version uint64, blob []byte, afterID string, limit int) {
		o := Object{Kind: kind, ID: id, Version: version, Blob: blob}

		err := validateObject(o)
		if want := refValidObject(o); (err == nil) != want {
			t.Fatalf("validateObject(%s): got %v, want valid=%v", describe(o), err, want)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("validateObject: got %v, want ErrInvalid", err)
		}

		err = validateKey(kind, id)
		if want := refKind.MatchString(kind) && refValidID(id, 1); (err == nil) != want {
			t.Fatalf("validateKey(%q, %q): got %v, want valid=%v", kind, id, err, want)
		}

		err = validateList(kind, afterID, limit)
		if want := refKind.MatchString(kind) && refValidID(afterID, 0) && limit >= 1 && limit <= 1000; (err == nil) != want {
			t.Fatalf("validateList(%q, %q, %d): got %v, want valid=%v", kind, afterID, limit, err, want)
		}

		// Through a real store: invalid input never reaches the database,
		// valid input round-trips exactly.
		cerr := s.Create(ctx, o)
		if !refValidObject(o) {
			if !errors.Is(cerr, ErrInvalid) {
				t.Fatalf("Create(%s): got %v, want ErrInvalid", describe(o), cerr)
			}
			return
		}
		if cerr != nil && !errors.Is(cerr, ErrExists) {
			t.Fatalf("Create(%s): got %v, want nil or ErrExists", describe(o), cerr)
		}
		got, err := s.Get(ctx, kind, id)
		if err != nil {
			t.Fatalf("Get after Create: got %v, want the object", err)
		}
		if got.Kind != kind || got.ID != id {
			t.Fatalf("Get(%q, %q): got %s", kind, id, describe(got))
		}
		if cerr == nil && (got.Version != version || !bytes.Equal(got.Blob, blob)) {
			t.Fatalf("Get: got %s, want %s", describe(got), describe(o))
		}
		if refValidID(afterID, 0) && limit >= 1 && limit <= 1000 {
			page, err := s.List(ctx, kind, afterID, limit)
			if err != nil {
				t.Fatalf("List(%q, %q, %d): got %v, want nil", kind, afterID, limit, err)
			}
			for i, p := range page {
				if p.ID <= afterID || (i > 0 && p.ID <= page[i-1].ID) || p.Kind != kind {
					t.Fatalf("List(%q, %q, %d): entry %d is %s, out of order", kind, afterID, limit, i, describe(p))
				}
			}
		}
	})
}
