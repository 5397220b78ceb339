package bls

import (
	"bytes"
	"testing"
)

func BenchmarkDerivePathSigningKey(b *testing.B) {
	seed := bytes.Repeat([]byte{0x42}, 64)
	for b.Loop() {
		sk, err := DerivePath(seed, "m/12381/3600/0/0/0")
		if err != nil {
			b.Fatal(err)
		}
		sk.Wipe()
	}
}

func BenchmarkDeriveMaster(b *testing.B) {
	seed := bytes.Repeat([]byte{0x42}, 64)
	for b.Loop() {
		if _, err := DeriveMaster(seed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChild(b *testing.B) {
	sk := mustSecretKey(b, [SecretKeySize]byte{31: 1})
	for b.Loop() {
		if _, err := sk.Child(7); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublicKey(b *testing.B) {
	sk := mustSecretKey(b, [SecretKeySize]byte{0: 0x3a, 31: 1})
	for b.Loop() {
		if _, err := sk.PublicKey(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	sk := mustSecretKey(b, [SecretKeySize]byte{0: 0x3a, 31: 1})
	msg := bytes.Repeat([]byte{0xab}, 32) // a signing root
	for b.Loop() {
		if _, err := Sign(sk, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	sk := mustSecretKey(b, [SecretKeySize]byte{0: 0x3a, 31: 1})
	msg := bytes.Repeat([]byte{0xab}, 32)
	pk, sig := mustPub(b, sk), mustSign(b, sk, msg)
	for b.Loop() {
		if !Verify(pk, msg, sig) {
			b.Fatal("Verify = false")
		}
	}
}
