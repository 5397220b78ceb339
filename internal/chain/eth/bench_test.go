package eth

import (
	"bytes"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

func benchKey() *secp256k1.PrivateKey {
	return secp256k1.PrivKeyFromBytes(bytes.Repeat([]byte{0x46}, 32))
}

func BenchmarkSignDigest(b *testing.B) {
	key := benchKey()
	digest := keccak256([]byte("digest"))
	for b.Loop() {
		if _, err := SignDigest(key, digest); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPersonalSign(b *testing.B) {
	key := benchKey()
	msg := []byte("Hello, world!")
	for b.Loop() {
		if _, err := SignDigest(key, PersonalMessageHash(msg)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTypedDataMailDigest(b *testing.B) {
	doc := []byte(mail)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := ParseTypedData(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEIP1559SignAssemble(b *testing.B) {
	key := benchKey()
	tx := validTx(DynamicFeeTxType)
	tx.Data = bytes.Repeat([]byte{0xab}, 68) // an ERC-20 transfer's calldata size
	for b.Loop() {
		if _, err := tx.Sign(key); err != nil {
			b.Fatal(err)
		}
	}
}
