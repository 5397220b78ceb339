package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
)

// storage is one empty place to keep objects (a SQLite file, a PostgreSQL
// schema). Each call of connect opens it afresh (new file handle, new
// pool), so a test can close and reopen the same data.
type storage struct {
	connect func() (Store, error)
}

// open connects and registers Close with t's cleanup.
func (st storage) open(t *testing.T) Store {
	t.Helper()
	s, err := st.connect()
	if err != nil {
		t.Fatalf("open store: got %v, want nil", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runConformance runs the behaviour every backend must share. newStorage
// returns fresh, empty storage for each subtest.
func runConformance(t *testing.T, newStorage func(t *testing.T) storage) {
	tests := []struct {
		name string
		run  func(t *testing.T, st storage)
	}{
		{"CreateThenGetReturnsTheExactObject", testCreateThenGet},
		{"GetOfAMissingObjectIsErrNotFound", testGetMissing},
		{"CreateOfAnExistingIDIsErrExistsAndKeepsTheOriginal", testCreateTwice},
		{"ConcurrentCreatorsOfOneIDHaveExactlyOneWinner", testConcurrentCreators},
		{"SameIDUnderTwoKindsIsTwoObjects", testKindsAreSeparate},
		{"UpdateIsACompareAndSwapOnTheVersion", testUpdate},
		{"ConcurrentUpdatesFromOneVersionHaveExactlyOneWinner", testConcurrentUpdates},
		{"ABatchWritesAllOrNothing", testBatch},
		{"ConcurrentBatchesOverOneObjectHaveExactlyOneWinner", testConcurrentBatches},
		{"ListPagesInIDByteOrder", testListOrderAndPaging},
		{"ListOfAnEmptyKindIsEmpty", testListEmpty},
		{"InvalidInputIsErrInvalidAndWritesNothing", testValidation},
		{"LimitsAreInclusive", testLimitsInclusive},
		{"ObjectsPersistAcrossReopen", testReopen},
		{"MigrationsAreIdempotent", testMigrationsIdempotent},
		{"ConcurrentFirstOpensAllSucceed", testConcurrentOpens},
		{"CancelledContextIsAnError", testCancelledContext},
		{"ClosedStoreReturnsErrors", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStorage(t))
		})
	}
}

// allBytes is a blob holding each of the 256 byte values, twice, in an
// order that also has a NUL first and 0xff last.
func allBytes() []byte {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func equalObject(a, b Object) bool {
	return a.Kind == b.Kind && a.ID == b.ID && a.Version == b.Version && bytes.Equal(a.Blob, b.Blob)
}

// describe prints an object for a failure message without dumping its
// blob (it may be a megabyte).
func describe(o Object) string {
	return fmt.Sprintf("{%s %q v%d blob[%d]}", o.Kind, o.ID, o.Version, len(o.Blob))
}

func mustCreate(t *testing.T, s Store, o Object) {
	t.Helper()
	if err := s.Create(context.Background(), o); err != nil {
		t.Fatalf("Create(%s): got %v, want nil", describe(o), err)
	}
}

// mustBe checks that (o.Kind, o.ID) is stored exactly as o.
func mustBe(t *testing.T, s Store, want Object) {
	t.Helper()
	got, err := s.Get(context.Background(), want.Kind, want.ID)
	if err != nil {
		t.Fatalf("Get(%s, %q): got error %v, want %s", want.Kind, want.ID, err, describe(want))
	}
	if !equalObject(got, want) {
		t.Fatalf("Get(%s, %q): got %s, want %s (blobs equal: %v)", want.Kind, want.ID, describe(got), describe(want), bytes.Equal(got.Blob, want.Blob))
	}
}

func mustBeAbsent(t *testing.T, s Store, kind, id string) {
	t.Helper()
	if _, err := s.Get(context.Background(), kind, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(%s, %q): got %v, want ErrNotFound", kind, id, err)
	}
}

func testCreateThenGet(t *testing.T, st storage) {
	s := st.open(t)
	for _, o := range []Object{
		{Kind: "wallet", ID: "w1", Version: 1, Blob: allBytes()},
		{Kind: "master", ID: "m", Version: 7, Blob: []byte{0}},
		{Kind: "wallet", ID: "ünïcødé ✓ 🔑", Version: 2, Blob: []byte{0xff, 0x00, 0xfe}},
		{Kind: "k_9", ID: strings.Repeat("x", MaxIDLen), Version: MaxVersion, Blob: bytes.Repeat([]byte{0xa5, 0, 0x5a}, MaxBlobLen/3)},
		{Kind: "wallet", ID: "NUL-free but \x01\x7f control", Version: 3, Blob: []byte("x")},
	} {
		mustCreate(t, s, o)
		mustBe(t, s, o)
	}
}

func testGetMissing(t *testing.T, st storage) {
	s := st.open(t)
	mustBeAbsent(t, s, "wallet", "nope")
	mustCreate(t, s, Object{Kind: "wallet", ID: "a", Version: 1, Blob: []byte{1}})
	mustBeAbsent(t, s, "wallet", "A")
	mustBeAbsent(t, s, "wallet", "a ")
}

func testCreateTwice(t *testing.T, st storage) {
	s := st.open(t)
	orig := Object{Kind: "wallet", ID: "w", Version: 1, Blob: []byte("original")}
	mustCreate(t, s, orig)
	for _, again := range []Object{
		{Kind: "wallet", ID: "w", Version: 1, Blob: []byte("original")},
		{Kind: "wallet", ID: "w", Version: 1, Blob: []byte("attacker")},
		{Kind: "wallet", ID: "w", Version: 2, Blob: []byte("newer")},
	} {
		if err := s.Create(context.Background(), again); !errors.Is(err, ErrExists) {
			t.Errorf("second Create(%s): got %v, want ErrExists", describe(again), err)
		}
		mustBe(t, s, orig)
	}
}

func testConcurrentCreators(t *testing.T, st storage) {
	s := st.open(t)
	const n = 16
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
			errs[i] = s.Create(context.Background(), Object{Kind: "wallet", ID: "contested", Version: 1, Blob: []byte{byte(i)}})
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("creators %d and %d both succeeded, want exactly one", winner, i)
			}
			winner = i
		case !errors.Is(err, ErrExists):
			t.Errorf("creator %d: got %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no creator succeeded, want exactly one")
	}
	mustBe(t, s, Object{Kind: "wallet", ID: "contested", Version: 1, Blob: []byte{byte(winner)}})
}

func testKindsAreSeparate(t *testing.T, st storage) {
	s := st.open(t)
	a := Object{Kind: "wallet", ID: "same", Version: 1, Blob: []byte("a")}
	b := Object{Kind: "policy", ID: "same", Version: 5, Blob: []byte("b")}
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	mustBe(t, s, a)
	mustBe(t, s, b)
}

func testUpdate(t *testing.T, st storage) {
	ctx := context.Background()
	s := st.open(t)
	tests := []struct {
		name    string
		o       Object // ID "w" is replaced by the case's own stored object
		prev    uint64
		wantErr error // nil: the update must succeed
	}{
		{"FromTheStoredVersionSucceeds", Object{Kind: "wallet", ID: "w", Version: 4, Blob: []byte("v4")}, 3, nil},
		{"MaySkipVersions", Object{Kind: "wallet", ID: "w", Version: 1000, Blob: []byte("v1000")}, 3, nil},
		{"ToTheLargestVersionSucceeds", Object{Kind: "wallet", ID: "w", Version: MaxVersion, Blob: allBytes()}, 3, nil},
		{"FromAStaleVersionIsErrConflict", Object{Kind: "wallet", ID: "w", Version: 4, Blob: []byte("x")}, 2, ErrConflict},
		{"FromAFutureVersionIsErrConflict", Object{Kind: "wallet", ID: "w", Version: 5, Blob: []byte("x")}, 4, ErrConflict},
		{"FromVersionZeroIsErrConflict", Object{Kind: "wallet", ID: "w", Version: 4, Blob: []byte("x")}, 0, ErrConflict},
		{"ToTheSameVersionIsErrConflict", Object{Kind: "wallet", ID: "w", Version: 3, Blob: []byte("x")}, 3, ErrConflict},
		{"ToAnOlderVersionIsErrConflict", Object{Kind: "wallet", ID: "w", Version: 2, Blob: []byte("x")}, 3, ErrConflict},
		{"OfAMissingIDIsErrNotFound", Object{Kind: "wallet", ID: "other", Version: 4, Blob: []byte("x")}, 3, ErrNotFound},
		{"OfAMissingIDWithABackwardVersionIsErrNotFound", Object{Kind: "wallet", ID: "other", Version: 1, Blob: []byte("x")}, 3, ErrNotFound},
		{"UnderAnotherKindIsErrNotFound", Object{Kind: "policy", ID: "w", Version: 4, Blob: []byte("x")}, 3, ErrNotFound},
		{"OfAnInvalidObjectIsErrInvalid", Object{Kind: "wallet", ID: "w", Version: 4}, 3, ErrInvalid},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := Object{Kind: "wallet", ID: fmt.Sprintf("case%d", i), Version: 3, Blob: []byte("v3")}
			mustCreate(t, s, orig)
			o := tc.o
			if o.ID == "w" {
				o.ID = orig.ID
			} else {
				o.ID += orig.ID
			}
			err := s.Update(ctx, o, tc.prev)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Update(%s, %d): got %v, want nil", describe(o), tc.prev, err)
				}
				mustBe(t, s, o)
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Update(%s, %d): got %v, want %v", describe(o), tc.prev, err, tc.wantErr)
			}
			// A failed update changes nothing.
			mustBe(t, s, orig)
			if o.Kind != orig.Kind || o.ID != orig.ID {
				mustBeAbsent(t, s, o.Kind, o.ID)
			}
		})
	}
	t.Run("ChainsVersionAfterVersion", func(t *testing.T) {
		o := Object{Kind: "wallet", ID: "chain", Version: 1, Blob: []byte{1}}
		mustCreate(t, s, o)
		for v := uint64(2); v <= 10; v++ {
			next := Object{Kind: o.Kind, ID: o.ID, Version: v, Blob: bytes.Repeat([]byte{byte(v)}, int(v))}
			if err := s.Update(ctx, next, v-1); err != nil {
				t.Fatalf("Update to v%d: got %v, want nil", v, err)
			}
			// Replaying the previous step is now a conflict.
			if err := s.Update(ctx, next, v-1); !errors.Is(err, ErrConflict) {
				t.Fatalf("replayed Update to v%d: got %v, want ErrConflict", v, err)
			}
			mustBe(t, s, next)
		}
	})
}

func testConcurrentUpdates(t *testing.T, st storage) {
	s := st.open(t)
	mustCreate(t, s, Object{Kind: "wallet", ID: "w", Version: 1, Blob: []byte{0}})
	const n = 16
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
			errs[i] = s.Update(context.Background(), Object{Kind: "wallet", ID: "w", Version: 2, Blob: []byte{byte(i + 1)}}, 1)
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("updaters %d and %d both succeeded, want exactly one", winner, i)
			}
			winner = i
		case !errors.Is(err, ErrConflict):
			t.Errorf("updater %d: got %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no updater succeeded, want exactly one")
	}
	mustBe(t, s, Object{Kind: "wallet", ID: "w", Version: 2, Blob: []byte{byte(winner + 1)}})
}

// orderIDs are chosen so that byte order differs from every linguistic
// collation: case, accents, punctuation, spaces and characters beyond the
// BMP. Go's string comparison is byte order, the order List promises.
var orderIDs = []string{
	"b", "B", "a", "A", "aa", "a b", "a-b", "a_b", "ab", "é", "e", "f", "z", "Z",
	"~", "0", "10", "9", "\U0001F600", "\u00ff", "\u0100", "\uffef", "ä", "Ä", "a\x01",
}

func testListOrderAndPaging(t *testing.T, st storage) {
	ctx := context.Background()
	s := st.open(t)
	want := make([]Object, len(orderIDs))
	for i, id := range orderIDs {
		want[i] = Object{Kind: "wallet", ID: id, Version: uint64(i + 1), Blob: []byte(id + "#blob")}
		mustCreate(t, s, want[i])
		// Same IDs under other kinds must not show up.
		mustCreate(t, s, Object{Kind: "walle", ID: id, Version: 1, Blob: []byte{1}})
		mustCreate(t, s, Object{Kind: "wallet_", ID: id, Version: 1, Blob: []byte{2}})
	}
	slices.SortFunc(want, func(a, b Object) int { return strings.Compare(a.ID, b.ID) })

	check := func(t *testing.T, what string, got, want []Object) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: got %d objects %v, want %d %v", what, len(got), ids(got), len(want), ids(want))
		}
		for i := range got {
			if !equalObject(got[i], want[i]) {
				t.Fatalf("%s: object %d: got %s, want %s (order got %q, want %q)", what, i, describe(got[i]), describe(want[i]), ids(got), ids(want))
			}
		}
	}

	all, err := s.List(ctx, "wallet", "", MaxListLimit)
	if err != nil {
		t.Fatalf("List all: got %v, want nil", err)
	}
	check(t, "List all", all, want)

	for _, pageSize := range []int{1, 2, 3, 7, len(want) - 1, len(want), len(want) + 1} {
		var got []Object
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(want)+1 {
				t.Fatalf("page size %d: paging does not end", pageSize)
			}
			page, err := s.List(ctx, "wallet", after, pageSize)
			if err != nil {
				t.Fatalf("page size %d after %q: got %v, want nil", pageSize, after, err)
			}
			if len(page) > pageSize {
				t.Fatalf("page size %d: got %d objects", pageSize, len(page))
			}
			got = append(got, page...)
			if len(page) < pageSize {
				break
			}
			after = page[len(page)-1].ID
		}
		check(t, fmt.Sprintf("pages of %d", pageSize), got, want)
	}

	// afterID need not be a stored ID; the page starts at the next one.
	for _, after := range []string{"a!", "aab", "\U0010FFFF", "\x01"} {
		got, err := s.List(ctx, "wallet", after, MaxListLimit)
		if err != nil {
			t.Fatalf("List after %q: got %v, want nil", after, err)
		}
		var w []Object
		for _, o := range want {
			if o.ID > after {
				w = append(w, o)
			}
		}
		check(t, fmt.Sprintf("List after %q", after), got, w)
	}
}

func ids(os []Object) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = o.ID
	}
	return out
}

func testListEmpty(t *testing.T, st storage) {
	s := st.open(t)
	mustCreate(t, s, Object{Kind: "wallet", ID: "w", Version: 1, Blob: []byte{1}})
	for _, tc := range []struct{ kind, after string }{{"master", ""}, {"wallet", "w"}, {"wallet", "x"}} {
		got, err := s.List(context.Background(), tc.kind, tc.after, 10)
		if err != nil {
			t.Fatalf("List(%s, %q): got %v, want nil", tc.kind, tc.after, err)
		}
		if len(got) != 0 {
			t.Fatalf("List(%s, %q): got %v, want none", tc.kind, tc.after, ids(got))
		}
	}
}

// Invalid inputs, each with a fragment its error message must contain so
// the limit is named.
var (
	invalidKinds = []struct{ name, kind, msg string }{
		{"EmptyKind", "", "kind is 0 bytes, want 1..32"},
		{"KindOf33Bytes", strings.Repeat("k", 33), "kind is 33 bytes, want 1..32"},
		{"UppercaseKind", "Wallet", "[a-z0-9_]"},
		{"KindWithHyphen", "hd-wallet", "[a-z0-9_]"},
		{"KindWithSpace", "wal let", "[a-z0-9_]"},
		{"KindWithNUL", "wallet\x00", "[a-z0-9_]"},
		{"NonASCIIKind", "wället", "[a-z0-9_]"},
	}
	invalidIDs = []struct{ name, id, msg string }{
		{"EmptyID", "", "id is 0 bytes, want 1..256"},
		{"IDOf257Bytes", strings.Repeat("i", 257), "id is 257 bytes, want 1..256"},
		{"IDOf257BytesOfUnicode", strings.Repeat("é", 128) + "x", "id is 257 bytes, want 1..256"},
		{"IDWithInvalidUTF8", "w\xff", "id is not valid UTF-8"},
		{"IDWithASurrogate", "\xed\xa0\x80", "id is not valid UTF-8"},
		{"IDWithATruncatedRune", "é"[:1], "id is not valid UTF-8"},
		{"IDWithNUL", "w\x00x", "id has a NUL byte at offset 1"},
	}
)

func testValidation(t *testing.T, st storage) {
	ctx := context.Background()
	s := st.open(t)
	good := Object{Kind: "wallet", ID: "w", Version: 1, Blob: []byte("good")}
	mustCreate(t, s, good)

	type call struct {
		name string
		do   func() error
		msg  string
	}
	var calls []call
	for _, k := range invalidKinds {
		o := Object{Kind: k.kind, ID: "new", Version: 2, Blob: []byte{1}}
		calls = append(calls,
			call{"Create/" + k.name, func() error { return s.Create(ctx, o) }, k.msg},
			call{"Update/" + k.name, func() error { return s.Update(ctx, o, 1) }, k.msg},
			call{"Get/" + k.name, func() error { _, err := s.Get(ctx, k.kind, "w"); return err }, k.msg},
			call{"List/" + k.name, func() error { _, err := s.List(ctx, k.kind, "", 10); return err }, k.msg},
		)
	}
	for _, i := range invalidIDs {
		o := Object{Kind: "wallet", ID: i.id, Version: 2, Blob: []byte{1}}
		calls = append(calls,
			call{"Create/" + i.name, func() error { return s.Create(ctx, o) }, i.msg},
			call{"Update/" + i.name, func() error { return s.Update(ctx, o, 1) }, i.msg},
			call{"Get/" + i.name, func() error { _, err := s.Get(ctx, "wallet", i.id); return err }, i.msg},
		)
	}
	objects := []struct {
		name string
		o    Object
		msg  string
	}{
		{"VersionZero", Object{Kind: "wallet", ID: "new", Version: 0, Blob: []byte{1}}, "version is 0, want 1..9223372036854775807"},
		{"VersionAbove2To63Minus1", Object{Kind: "wallet", ID: "new", Version: MaxVersion + 1, Blob: []byte{1}}, "version is 9223372036854775808, want 1..9223372036854775807"},
		{"VersionMaxUint64", Object{Kind: "wallet", ID: "new", Version: math.MaxUint64, Blob: []byte{1}}, "want 1..9223372036854775807"},
		{"NilBlob", Object{Kind: "wallet", ID: "new", Version: 2}, "blob is 0 bytes, want 1..1048576"},
		{"EmptyBlob", Object{Kind: "wallet", ID: "new", Version: 2, Blob: []byte{}}, "blob is 0 bytes, want 1..1048576"},
		{"BlobOf1MiBPlus1", Object{Kind: "wallet", ID: "new", Version: 2, Blob: make([]byte, MaxBlobLen+1)}, "blob is 1048577 bytes, want 1..1048576"},
	}
	for _, c := range objects {
		calls = append(calls,
			call{"Create/" + c.name, func() error { return s.Create(ctx, c.o) }, c.msg},
			call{"Update/" + c.name, func() error { return s.Update(ctx, c.o, 1) }, c.msg},
		)
		// The same defect in an update of the existing object.
		u := c.o
		u.ID = good.ID
		calls = append(calls, call{"UpdateExisting/" + c.name, func() error { return s.Update(ctx, u, 1) }, c.msg})
	}
	for _, l := range []struct {
		name, after string
		limit       int
		msg         string
	}{
		{"LimitZero", "", 0, "limit is 0, want 1..1000"},
		{"LimitNegative", "", -1, "limit is -1, want 1..1000"},
		{"Limit1001", "", 1001, "limit is 1001, want 1..1000"},
		{"AfterIDOf257Bytes", strings.Repeat("a", 257), 10, "afterID is 257 bytes, want 0..256"},
		{"AfterIDWithInvalidUTF8", "\xc3", 10, "afterID is not valid UTF-8"},
		{"AfterIDWithNUL", "a\x00", 10, "afterID has a NUL byte at offset 1"},
	} {
		calls = append(calls, call{"List/" + l.name, func() error { _, err := s.List(ctx, "wallet", l.after, l.limit); return err }, l.msg})
	}

	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.do()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("message: got %q, want it to contain %q", err, c.msg)
			}
		})
	}
	// Nothing was written by any of them.
	mustBe(t, s, good)
	all, err := s.List(ctx, "wallet", "", MaxListLimit)
	if err != nil || len(all) != 1 {
		t.Fatalf("List after invalid calls: got %v, %v, want only %q", ids(all), err, good.ID)
	}
}

func testLimitsInclusive(t *testing.T, st storage) {
	ctx := context.Background()
	s := st.open(t)
	for _, o := range []Object{
		{Kind: strings.Repeat("k", MaxKindLen), ID: "x", Version: 1, Blob: []byte{1}},
		{Kind: "abcdefghijklmnopqrstuvwxyz_01289", ID: "y", Version: 1, Blob: []byte{1}},
		{Kind: "a", ID: strings.Repeat("i", MaxIDLen), Version: 1, Blob: []byte{1}},
		{Kind: "a", ID: strings.Repeat("é", MaxIDLen/2), Version: 1, Blob: []byte{1}},
		{Kind: "a", ID: strings.Repeat("\U0001F511", MaxIDLen/4), Version: MaxVersion, Blob: []byte{1}},
		{Kind: "b", ID: "z", Version: 1, Blob: make([]byte, MaxBlobLen)},
	} {
		mustCreate(t, s, o)
		mustBe(t, s, o)
	}
	if _, err := s.List(ctx, "a", strings.Repeat("\U0010FFFF", MaxIDLen/4), MaxListLimit); err != nil {
		t.Fatalf("List with a 256-byte afterID and limit 1000: got %v, want nil", err)
	}
}

func testReopen(t *testing.T, st storage) {
	s1 := st.open(t)
	objs := []Object{
		{Kind: "wallet", ID: "w1", Version: 1, Blob: allBytes()},
		{Kind: "master", ID: "cluster", Version: 9, Blob: []byte("sealed master")},
	}
	for _, o := range objs {
		mustCreate(t, s1, o)
	}
	objs[0] = Object{Kind: "wallet", ID: "w1", Version: 2, Blob: []byte("v2")}
	if err := s1.Update(context.Background(), objs[0], 1); err != nil {
		t.Fatalf("Update: got %v, want nil", err)
	}
	if err := s1.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	s2 := st.open(t)
	for _, o := range objs {
		mustBe(t, s2, o)
	}
	// And it is still a working store.
	if err := s2.Create(context.Background(), Object{Kind: "wallet", ID: "w1", Version: 1, Blob: []byte{1}}); !errors.Is(err, ErrExists) {
		t.Fatalf("Create after reopen: got %v, want ErrExists", err)
	}
}

type versioned interface {
	schemaVersion(ctx context.Context) (version, rows int, err error)
}

func testMigrationsIdempotent(t *testing.T, st storage) {
	s1 := st.open(t)
	o := Object{Kind: "wallet", ID: "w", Version: 1, Blob: []byte("kept")}
	mustCreate(t, s1, o)
	s2 := st.open(t) // while s1 is still open
	s3 := st.open(t)
	for i, s := range []Store{s1, s2, s3} {
		v, ok := s.(versioned)
		if !ok {
			t.Fatalf("store %T has no schemaVersion", s)
		}
		version, rows, err := v.schemaVersion(context.Background())
		if err != nil {
			t.Fatalf("store %d: schemaVersion: %v", i, err)
		}
		want := latestMigration(t, s)
		if version != want || rows != want {
			t.Fatalf("store %d: got schema version %d in %d rows, want %d in %d", i, version, rows, want, want)
		}
		mustBe(t, s, o)
	}
}

func latestMigration(t *testing.T, s Store) int {
	t.Helper()
	backend := "sqlite"
	if _, ok := s.(*Postgres); ok {
		backend = "postgres"
	}
	ms, err := migrations.Load(backend)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

func testConcurrentOpens(t *testing.T, st storage) {
	const n = 8
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		stores = make([]Store, n)
		errs   = make([]error, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stores[i], errs[i] = st.connect()
		}()
	}
	close(start)
	wg.Wait()
	for i, s := range stores {
		if s != nil {
			t.Cleanup(func() { s.Close() })
		}
		if errs[i] != nil {
			t.Errorf("concurrent open %d: got %v, want nil", i, errs[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	o := Object{Kind: "wallet", ID: "w", Version: 1, Blob: []byte{1}}
	mustCreate(t, stores[0], o)
	mustBe(t, stores[n-1], o)
}

func testCancelledContext(t *testing.T, st storage) {
	s := st.open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := Object{Kind: "wallet", ID: "w", Version: 1, Blob: []byte{1}}
	if err := s.Create(ctx, o); err == nil {
		t.Fatalf("Create with a cancelled context: got nil, want an error")
	}
	mustBeAbsent(t, s, "wallet", "w")
	mustCreate(t, s, o)
	if _, err := s.Get(ctx, "wallet", "w"); err == nil {
		t.Fatalf("Get with a cancelled context: got nil, want an error")
	}
	if err := s.Update(ctx, Object{Kind: "wallet", ID: "w", Version: 2, Blob: []byte{2}}, 1); err == nil {
		t.Fatalf("Update with a cancelled context: got nil, want an error")
	}
	if _, err := s.List(ctx, "wallet", "", 1); err == nil {
		t.Fatalf("List with a cancelled context: got nil, want an error")
	}
	mustBe(t, s, o)
}

func testClosed(t *testing.T, st storage) {
	s := st.open(t)
	o := Object{Kind: "wallet", ID: "w", Version: 1, Blob: []byte{1}}
	mustCreate(t, s, o)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	ctx := context.Background()
	if _, err := s.Get(ctx, "wallet", "w"); err == nil {
		t.Errorf("Get after Close: got nil, want an error")
	}
	if err := s.Create(ctx, Object{Kind: "wallet", ID: "x", Version: 1, Blob: []byte{1}}); err == nil {
		t.Errorf("Create after Close: got nil, want an error")
	}
	if err := s.Update(ctx, Object{Kind: "wallet", ID: "w", Version: 2, Blob: []byte{1}}, 1); err == nil {
		t.Errorf("Update after Close: got nil, want an error")
	}
	if _, err := s.List(ctx, "wallet", "", 1); err == nil {
		t.Errorf("List after Close: got nil, want an error")
	}
}

func testBatch(t *testing.T, st storage) {
	s := st.open(t)
	ctx := context.Background()
	a1 := Object{Kind: "index", ID: "a", Version: 1, Blob: []byte("a1")}
	mustCreate(t, s, a1)
	a2 := Object{Kind: "index", ID: "a", Version: 2, Blob: []byte("a2")}
	w1 := Object{Kind: "wallet", ID: "w", Version: 1, Blob: []byte("w1")}
	tests := []struct {
		name   string
		writes []Write
		want   error
	}{
		{"an update from a stale version and a create", []Write{{Object: a2, Prev: 7}, {Object: w1, Create: true}}, ErrConflict},
		{"a create of an existing object and an update", []Write{{Object: w1, Create: true}, {Object: a1, Create: true}}, ErrExists},
		{"an update of a missing object", []Write{{Object: Object{Kind: "index", ID: "nope", Version: 2, Blob: []byte("x")}, Prev: 1}}, ErrNotFound},
		{"no writes", nil, ErrInvalid},
		{"an update that does not move the version on", []Write{{Object: a1, Prev: 1}}, ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Batch(ctx, tc.writes); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			mustBe(t, s, a1)
			if tc.name != "a create of an existing object and an update" {
				mustBeAbsent(t, s, "wallet", "w")
			}
		})
	}
	// A refused batch wrote nothing; a good one writes both.
	mustBeAbsent(t, s, "wallet", "w")
	if err := s.Batch(ctx, []Write{{Object: a2, Prev: 1}, {Object: w1, Create: true}}); err != nil {
		t.Fatalf("a good batch: %v", err)
	}
	mustBe(t, s, a2)
	mustBe(t, s, w1)
}

func testConcurrentBatches(t *testing.T, st storage) {
	s := st.open(t)
	ctx := context.Background()
	mustCreate(t, s, Object{Kind: "index", ID: "b", Version: 1, Blob: []byte("b1")})
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Batch(ctx, []Write{
				{Object: Object{Kind: "index", ID: "b", Version: 2, Blob: []byte{byte(i)}}, Prev: 1},
				{Object: Object{Kind: "wallet", ID: fmt.Sprint("w", i), Version: 1, Blob: []byte{byte(i)}}, Create: true},
			})
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("batches %d and %d both won", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, ErrConflict):
			t.Fatalf("batch %d: got %v, want a win or ErrConflict", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no batch won")
	}
	for i := range n {
		_, err := s.Get(ctx, "wallet", fmt.Sprint("w", i))
		if (i == won) != (err == nil) {
			t.Fatalf("wallet of batch %d: got %v", i, err)
		}
	}
}
