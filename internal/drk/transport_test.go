package drk

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"filippo.io/age"
)

func TestHolderShareDecryptsOnlyWithTheHoldersIdentity(t *testing.T) {
	sp := generate(t, 3, 5)
	s := sp.Shares[0]
	x25519, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatalf("GenerateX25519Identity: %v", err)
	}
	otherX25519, _ := age.GenerateX25519Identity()
	hybrid, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatalf("GenerateHybridIdentity: %v", err)
	}
	otherHybrid, _ := age.GenerateHybridIdentity()

	tests := []struct {
		name             string
		recipient        string
		identity, others []string
	}{
		{"X25519", x25519.Recipient().String(), []string{x25519.String()}, []string{otherX25519.String(), hybrid.String()}},
		{"hybrid post-quantum", hybrid.Recipient().String(), []string{hybrid.String()}, []string{otherHybrid.String(), x25519.String()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file, err := EncryptShareForHolder(s, tc.recipient)
			if err != nil {
				t.Fatalf("EncryptShareForHolder: %v", err)
			}
			if pt, _ := s.MarshalBinary(); bytes.Contains(file, pt[len(pt)-16:]) {
				t.Fatalf("the age file contains share bytes in the clear")
			}
			got, err := DecryptHolderShare(file, tc.identity[0])
			if err != nil {
				t.Fatalf("DecryptHolderShare: %v", err)
			}
			if !sameShare(got, s) {
				t.Fatalf("decrypted another share")
			}
			for _, other := range tc.others {
				if got, err := DecryptHolderShare(file, other); got != nil || !errors.Is(err, ErrOpen) {
					t.Fatalf("another identity: got %v, want ErrOpen", err)
				}
			}
			tampered := bytes.Clone(file)
			tampered[len(tampered)-1] ^= 1
			if got, err := DecryptHolderShare(tampered, tc.identity[0]); got != nil || !errors.Is(err, ErrOpen) {
				t.Fatalf("tampered file: got %v, want ErrOpen", err)
			}
			if got, err := DecryptHolderShare(file[:len(file)/2], tc.identity[0]); got != nil || !errors.Is(err, ErrOpen) {
				t.Fatalf("truncated file: got %v, want ErrOpen", err)
			}
		})
	}
}

func TestHolderTransportRefusesBadKeysWithoutQuotingThem(t *testing.T) {
	sp := generate(t, 2, 2)
	id, _ := age.GenerateX25519Identity()
	secretKey := id.String()
	file, err := EncryptShareForHolder(sp.Shares[0], id.Recipient().String())
	if err != nil {
		t.Fatalf("EncryptShareForHolder: %v", err)
	}
	recipients := map[string]string{
		"an identity for a recipient": secretKey,
		"empty":                       "",
		"bad checksum":                id.Recipient().String()[:20] + "qqqq" + id.Recipient().String()[24:],
		"ssh key":                     "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN",
	}
	for name, r := range recipients {
		t.Run("recipient: "+name, func(t *testing.T) {
			_, err := EncryptShareForHolder(sp.Shares[0], r)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
			if r != "" && strings.Contains(err.Error(), r[5:]) {
				t.Fatalf("error quotes the key")
			}
		})
	}
	identities := map[string]string{
		"a recipient for an identity": id.Recipient().String(),
		"corrupted identity":          secretKey[:len(secretKey)-6] + "QQQQQQ",
		"lower case prefix":           strings.ToLower(secretKey),
	}
	for name, i := range identities {
		t.Run("identity: "+name, func(t *testing.T) {
			_, err := DecryptHolderShare(file, i)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
			if strings.Contains(err.Error(), i[5:]) || strings.Contains(strings.ToUpper(err.Error()), secretKey[16:]) {
				t.Fatalf("error quotes the key")
			}
		})
	}
	t.Run("oversized file", func(t *testing.T) {
		if _, err := DecryptHolderShare(make([]byte, MaxAgeFile+1), secretKey); !errors.Is(err, ErrMalformed) {
			t.Fatalf("got %v, want ErrMalformed", err)
		}
	})
	t.Run("wiped share", func(t *testing.T) {
		w := *sp.Shares[1]
		w.Wipe()
		if _, err := EncryptShareForHolder(&w, id.Recipient().String()); !errors.Is(err, ErrMalformed) {
			t.Fatalf("got %v, want ErrMalformed", err)
		}
	})
}

func TestRecoveryTransportOpensOnlyWithTheKeyAndContext(t *testing.T) {
	sp := generate(t, 3, 5)
	s := sp.Shares[4]
	rk, err := NewRecoveryKey()
	if err != nil {
		t.Fatalf("NewRecoveryKey: %v", err)
	}
	otherKey, _ := NewRecoveryKey()
	context := []byte("attestation sha256 … ‖ nonce 9c1e")
	ct, err := SealShareForRecovery(s, rk.Public(), context)
	if err != nil {
		t.Fatalf("SealShareForRecovery: %v", err)
	}
	got, err := rk.OpenShare(ct, context)
	if err != nil {
		t.Fatalf("OpenShare: %v", err)
	}
	if !sameShare(got, s) {
		t.Fatalf("opened another share")
	}

	// An escrow sealed to the recovery key itself, of the share's own bytes
	// and with the same info, is still not a recovery ciphertext: the labels
	// differ.
	rkAsDRK, err := ParsePublicKey(rk.Public())
	if err != nil {
		t.Fatalf("ParsePublicKey(recovery key): %v", err)
	}
	shareBytes, _ := s.MarshalBinary()
	escrowLike, err := Seal(rkAsDRK, context, shareBytes)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}

	flip := func(i int) []byte { b := bytes.Clone(ct); b[i] ^= 1; return b }
	tests := []struct {
		name    string
		key     *RecoveryKey
		ct, ctx []byte
	}{
		{"wrong context", rk, ct, []byte("attestation sha256 … ‖ nonce 9c1f")},
		{"no context", rk, ct, nil},
		{"wrong key", otherKey, ct, context},
		{"tampered encapsulation", rk, flip(3), context},
		{"tampered ciphertext", rk, flip(len(ct) - 20), context},
		{"truncated", rk, ct[:len(ct)-1], context},
		{"an escrow", rk, escrowLike, context},
		{"oversized", rk, make([]byte, MaxRecoveryCiphertext+1), context},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.key.OpenShare(tc.ct, tc.ctx)
			if got != nil || !errors.Is(err, ErrOpen) {
				t.Fatalf("got %v, want ErrOpen", err)
			}
		})
	}

	t.Run("public key is a copy", func(t *testing.T) {
		p := rk.Public()
		p[0] ^= 1
		if bytes.Equal(p, rk.Public()) {
			t.Fatalf("Public exposed the key's own buffer")
		}
	})
	t.Run("bad recovery public key", func(t *testing.T) {
		for _, pub := range [][]byte{nil, make([]byte, 32), rk.Public()[:100]} {
			if _, err := SealShareForRecovery(s, pub, context); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%d-byte key: got %v, want ErrMalformed", len(pub), err)
			}
		}
	})
	t.Run("wiped key", func(t *testing.T) {
		rk.Wipe()
		if got, err := rk.OpenShare(ct, context); got != nil || err == nil {
			t.Fatalf("a wiped key opened a share")
		}
	})
}

// TestDisasterRecoveryEndToEnd walks invariant 5: a ceremony hands shares to
// holders under age, the master key is escrowed, the cluster is lost, three
// holders re-encrypt their shares to a fresh enclave, which rebuilds the DRK
// and recovers the master key; with two holders it refuses.
func TestDisasterRecoveryEndToEnd(t *testing.T) {
	// Ceremony, in the old enclave.
	sp := generate(t, DefaultThreshold, DefaultCount)
	holders := make([]*age.HybridIdentity, sp.Count)
	files := make([][]byte, sp.Count)
	for i := range holders {
		holders[i], _ = age.GenerateHybridIdentity()
		f, err := EncryptShareForHolder(sp.Shares[i], holders[i].Recipient().String())
		if err != nil {
			t.Fatalf("EncryptShareForHolder(%d): %v", i+1, err)
		}
		files[i] = f
	}
	pubBytes := sp.Public.Bytes()
	commitBytes, err := sp.Commitment.MarshalBinary()
	if err != nil {
		t.Fatalf("Commitment.MarshalBinary: %v", err)
	}
	escrow, err := Seal(sp.Public, testInfo, testMaster)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	sp.Wipe()

	// Disaster; a fresh enclave with only public records.
	pub, err := ParsePublicKey(pubBytes)
	if err != nil {
		t.Fatalf("ParsePublicKey: %v", err)
	}
	commitment, err := ParseCommitment(commitBytes)
	if err != nil {
		t.Fatalf("ParseCommitment: %v", err)
	}
	rk, err := NewRecoveryKey()
	if err != nil {
		t.Fatalf("NewRecoveryKey: %v", err)
	}
	defer rk.Wipe()
	context := []byte("fresh enclave attestation + nonce")

	collect := func(holdersPresent ...int) []*Share {
		var shares []*Share
		for _, h := range holdersPresent {
			// On the holder's machine.
			s, err := DecryptHolderShare(files[h], holders[h].String())
			if err != nil {
				t.Fatalf("holder %d: DecryptHolderShare: %v", h+1, err)
			}
			ct, err := SealShareForRecovery(s, rk.Public(), context)
			s.Wipe()
			if err != nil {
				t.Fatalf("holder %d: SealShareForRecovery: %v", h+1, err)
			}
			// In the fresh enclave.
			got, err := rk.OpenShare(ct, context)
			if err != nil {
				t.Fatalf("holder %d: OpenShare: %v", h+1, err)
			}
			shares = append(shares, got)
		}
		return shares
	}

	if k, err := Recover(pub, commitment, collect(1, 4)); k != nil || !errors.Is(err, ErrTooFewShares) {
		t.Fatalf("two holders: got %v, want ErrTooFewShares", err)
	}
	k, err := Recover(pub, commitment, collect(4, 0, 2))
	if err != nil {
		t.Fatalf("three holders: Recover: %v", err)
	}
	defer k.Wipe()
	master, err := k.Open(testInfo, escrow)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(master, testMaster) {
		t.Fatalf("recovered a different master key")
	}
	clear(master)
}
