package drk

import (
	"crypto/rand"
	"reflect"
	"testing"

	"github.com/cloudflare/circl/group"
)

func TestWipe(t *testing.T) {
	s := group.P256.RandomNonZeroScalar(rand.Reader)
	k := reflect.ValueOf(s).Elem().FieldByName("k").Bytes()
	t.Logf("before %x", k)
	s.SetUint64(0)
	t.Logf("after SetUint64 %x", k)
	s2 := group.P256.RandomNonZeroScalar(rand.Reader)
	k2 := reflect.ValueOf(s2).Elem().FieldByName("k").Bytes()
	s2.CMov(1, group.P256.NewScalar())
	t.Logf("after CMov %x", k2)
}
