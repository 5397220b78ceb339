package drk

import (
	"bytes"
	"crypto/hpke"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
)

// Holder transport: at the ceremony each share leaves the enclave as an age
// file (age-encryption.org/v1) encrypted to its holder's recipient.

// EncryptShareForHolder encrypts the binary share to one age recipient and
// returns the binary age file. The recipient is a native age public key:
// hybrid post-quantum "age1pq1…" (recommended: a share recorded today stays
// confidential against a future quantum adversary) or X25519 "age1…".
func EncryptShareForHolder(s *Share, ageRecipient string) ([]byte, error) {
	r, err := parseAgeRecipient(strings.TrimSpace(ageRecipient))
	if err != nil {
		return nil, err
	}
	pt, err := s.MarshalBinary()
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	var out bytes.Buffer
	w, err := age.Encrypt(&out, r)
	if err != nil {
		return nil, fmt.Errorf("drk: age encrypt: %w", err)
	}
	if _, err := w.Write(pt); err != nil {
		return nil, fmt.Errorf("drk: age encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("drk: age encrypt: %w", err)
	}
	return out.Bytes(), nil
}

// DecryptHolderShare decrypts an age file made by EncryptShareForHolder
// with the holder's identity ("AGE-SECRET-KEY-1…" or
// "AGE-SECRET-KEY-PQ-1…") and parses the share. A wrong identity or a
// damaged file gives ErrOpen. It runs on the holder's machine.
func DecryptHolderShare(ageFile []byte, identity string) (*Share, error) {
	if len(ageFile) > MaxAgeFile {
		return nil, fmt.Errorf("%w: age file of %d bytes exceeds %d", ErrMalformed, len(ageFile), MaxAgeFile)
	}
	id, err := parseAgeIdentity(strings.TrimSpace(identity))
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(bytes.NewReader(ageFile), id)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, fmt.Errorf("%w: the age file is not encrypted to this identity", ErrOpen)
		}
		return nil, fmt.Errorf("%w: the age file is damaged or not an age file", ErrOpen)
	}
	pt, err := io.ReadAll(io.LimitReader(r, maxShareEncoding+1))
	defer clear(pt)
	if err != nil {
		return nil, fmt.Errorf("%w: the age payload is damaged", ErrOpen)
	}
	return ParseShare(pt)
}

func parseAgeRecipient(s string) (age.Recipient, error) {
	var (
		r   age.Recipient
		err error
	)
	switch {
	case strings.HasPrefix(s, "age1pq1"):
		r, err = age.ParseHybridRecipient(s)
	case strings.HasPrefix(s, "age1"):
		r, err = age.ParseX25519Recipient(s)
	default:
		// Not quoted: it might be an identity pasted by mistake.
		return nil, fmt.Errorf("%w: not an age recipient (want age1… or age1pq1…)", ErrMalformed)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: invalid age recipient", ErrMalformed)
	}
	return r, nil
}

// parseAgeIdentity parses one native age identity. Errors never quote it.
func parseAgeIdentity(s string) (age.Identity, error) {
	var (
		id  age.Identity
		err error
	)
	switch {
	case strings.HasPrefix(s, "AGE-SECRET-KEY-PQ-1"):
		id, err = age.ParseHybridIdentity(s)
	case strings.HasPrefix(s, "AGE-SECRET-KEY-1"):
		id, err = age.ParseX25519Identity(s)
	default:
		return nil, fmt.Errorf("%w: not an age identity (want AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…)", ErrMalformed)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: invalid age identity", ErrMalformed)
	}
	return id, nil
}

// Recovery transport: in a recovery each holder decrypts their share and
// re-encrypts it to the recovering enclave's ephemeral RecoveryKey, after
// checking the enclave's attestation. The ciphertext crosses the untrusted
// runner, so it uses the same post-quantum hybrid suite as the escrow.

// RecoveryKey is a recovering enclave's ephemeral HPKE MLKEM768-X25519
// key. It prints as a redacted description.
type RecoveryKey struct {
	k   hpke.PrivateKey
	pub []byte
}

// NewRecoveryKey generates a fresh recovery key.
func NewRecoveryKey() (*RecoveryKey, error) {
	k, err := suiteKEM.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("drk: recovery key: %w", err)
	}
	return &RecoveryKey{k: k, pub: k.PublicKey().Bytes()}, nil
}

// Public returns the HPKE serialization of the public key (1216 bytes).
// It is too large for some attestation fields (the Nitro NSM public_key
// field holds 1024 bytes): bind its SHA-256 in user_data instead.
func (k *RecoveryKey) Public() []byte { return bytes.Clone(k.pub) }

// Wipe drops the key. crypto/hpke keeps its key material in unexported
// fields that cannot be zeroed; dropping the reference is as far as Go
// allows. A wiped key opens nothing.
func (k *RecoveryKey) Wipe() {
	k.k = nil
	k.pub = nil
}

// Format prints a redacted description for every verb.
func (k RecoveryKey) Format(f fmt.State, _ rune) {
	fmt.Fprint(f, "drk.RecoveryKey{redacted}")
}

// SealShareForRecovery encrypts the binary share to a recovering enclave's
// recovery public key: HPKE base mode, single shot, MLKEM768-X25519 /
// HKDF-SHA256 / AES-256-GCM, info "niomon/drk/v1/recovery-share" ‖ 0x00 ‖
// context. context binds the recovery (for example the enclave's
// attestation document or a hash of it and a nonce); OpenShare must be
// given the same context.
func SealShareForRecovery(s *Share, recoveryPublic []byte, context []byte) ([]byte, error) {
	pk, err := suiteKEM.NewPublicKey(recoveryPublic)
	if err != nil {
		return nil, fmt.Errorf("%w: not an MLKEM768-X25519 recovery public key (%d bytes)", ErrMalformed, len(recoveryPublic))
	}
	if len(context) > MaxInfo {
		return nil, fmt.Errorf("%w: context of %d bytes exceeds %d", ErrMalformed, len(context), MaxInfo)
	}
	pt, err := s.MarshalBinary()
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	ct, err := hpke.Seal(pk, suiteKDF, suiteAEAD, labelled(labelRecovery, context), pt)
	if err != nil {
		return nil, fmt.Errorf("drk: seal share: %w", err)
	}
	return ct, nil
}

// OpenShare decrypts a share sealed to k with the same context. A wrong
// key, a wrong context or a tampered ciphertext gives ErrOpen.
func (k *RecoveryKey) OpenShare(ct, context []byte) (*Share, error) {
	if k == nil || k.k == nil {
		return nil, fmt.Errorf("%w: recovery key is wiped", ErrMalformed)
	}
	if len(ct) > MaxRecoveryCiphertext || len(context) > MaxInfo {
		return nil, fmt.Errorf("%w: ciphertext or context exceeds its limit", ErrOpen)
	}
	pt, err := hpke.Open(k.k, suiteKDF, suiteAEAD, labelled(labelRecovery, context), ct)
	if err != nil {
		return nil, ErrOpen
	}
	defer clear(pt)
	return ParseShare(pt)
}
