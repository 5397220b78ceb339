package drk

import (
	"bytes"
	"crypto/rand"
	"reflect"
	"testing"

	"github.com/cloudflare/circl/group"
)

// scalarBytes returns the byte slice a circl P-256 scalar keeps its value
// in, aliased, not copied (reflect reads the unexported field).
func scalarBytes(t *testing.T, s group.Scalar) []byte {
	t.Helper()
	v := reflect.ValueOf(s)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		t.Fatalf("circl's P-256 scalar is a %v, not a struct: recheck wipeScalar", v.Kind())
	}
	f := v.FieldByName("k")
	if !f.IsValid() || f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Uint8 {
		t.Fatalf("circl's P-256 scalar has no byte slice k: recheck wipeScalar")
	}
	return f.Bytes()
}

// TestWipeScalarZeroesInPlace pins how circl v1.6.3 stores a P-256 scalar,
// so that an upgrade that changes it is noticed: wipeScalar must zero the
// very bytes the scalar held, and SetUint64(0), which reallocates, does
// not (which is why wipeScalar uses CMov).
func TestWipeScalarZeroesInPlace(t *testing.T) {
	s := field.RandomNonZeroScalar(rand.Reader)
	k := scalarBytes(t, s)
	enc, _ := s.MarshalBinary()
	if len(k) != scalarLen || !bytes.Equal(k, enc) {
		t.Fatalf("scalar bytes are not its encoding")
	}
	wipeScalar(s)
	if !bytes.Equal(k, make([]byte, scalarLen)) || !s.IsZero() {
		t.Fatalf("wipeScalar left the scalar's bytes")
	}

	s = field.RandomNonZeroScalar(rand.Reader)
	k = scalarBytes(t, s)
	s.SetUint64(0)
	if !s.IsZero() {
		t.Fatalf("SetUint64(0) is not zero")
	}
	if bytes.Equal(k, make([]byte, scalarLen)) {
		t.Logf("circl's SetUint64(0) now zeroes in place; wipeScalar could use it")
	}
	wipeScalar(nil) // must not panic
}

func TestLoadScalarRefusesNAndWipes(t *testing.T) {
	var b [scalarLen]byte
	copy(b[:], p256Order(t))
	if x, ok := loadScalar(&b); ok || x != nil {
		t.Fatalf("loadScalar accepted n")
	}
	b[scalarLen-1]--
	x, ok := loadScalar(&b)
	if !ok {
		t.Fatalf("loadScalar refused n-1")
	}
	var back [scalarLen]byte
	if !storeScalar(&back, x) || back != b {
		t.Fatalf("store(load(n-1)) != n-1")
	}
}

func TestSplitAndCombine(t *testing.T) {
	for _, p := range []struct{ threshold, count int }{{2, 2}, {3, 5}, {16, 16}} {
		var secret, got [scalarLen]byte
		values := make([][scalarLen]byte, p.count)
		if err := split(&secret, values, p.threshold); err != nil {
			t.Fatalf("split: %v", err)
		}
		if secret == [scalarLen]byte{} {
			t.Fatalf("s = 0")
		}
		var xs []int
		var vs []*[scalarLen]byte
		for i := p.count - 1; len(xs) < p.threshold; i-- {
			xs, vs = append(xs, i+1), append(vs, &values[i])
		}
		if err := combine(&got, xs, vs); err != nil || got != secret {
			t.Fatalf("%d of %d: combine: %v", p.threshold, p.count, err)
		}
		// One share fewer interpolates some other value (Shamir alone
		// cannot tell: the commitment and the public key check do).
		if err := combine(&got, xs[1:], vs[1:]); err != nil || got == secret {
			t.Fatalf("%d of %d: %d shares rebuilt s", p.threshold, p.count, p.threshold-1)
		}
	}
}
