// Package drk implements the Disaster Recovery Key (DESIGN.md invariant 5).
//
// The cluster master key is escrowed to the DRK public key. The DRK private
// key is made inside the enclave in a key ceremony (Generate) and split k of
// n (default 3 of 5) among holders; k holders can rebuild it in a fresh
// enclave (Recover) and open the escrow. Everything here runs inside the
// enclave except DecryptHolderShare, ParsePaper and SealShareForRecovery,
// which holders run on their own machines.
//
// # Scheme
//
// The DRK secret is a random non-zero scalar s of NIST P-256 (see group.go
// for why P-256). Its canonical 32-byte big-endian encoding is the input
// keying material of DeriveKeyPair for the HPKE KEM MLKEM768-X25519, so the
// HPKE private key is fully determined by s, and rebuilding s rebuilds it.
//
// s is shared with Shamir's scheme (Shamir 1979) over Z_n: f(x) = s + a_1·x
// + … + a_{k-1}·x^{k-1}, share i = f(i), i = 1..n. Plain Shamir returns
// garbage silently for a wrong set of shares, so the sharing is verifiable:
// Pedersen VSS (Pedersen 1991, "Non-interactive and information-theoretic
// secure verifiable secret sharing"), the hiding variant of Feldman VSS
// (Feldman 1987). A second random polynomial g(x) = b_0 + … blinds it; share
// i carries f(i) and g(i), and the public commitment is C_j = a_j·G + b_j·H
// for a second generator H of unknown logarithm. A share verifies when
//
//	f(i)·G + g(i)·H = Σ_j i^j·C_j,
//
// so a tampered share is detected and named before anything is rebuilt.
// Shares also carry the DRK fingerprint (SHA-256 of its public key),
// threshold and count, so shares of another DRK, duplicates and a short set
// are each reported with their own error; after interpolation the rebuilt
// key's public key must equal the expected one, or nothing is returned.
//
// Why Pedersen and not plain Feldman: Feldman publishes C_0 = s·G, and s is
// the HPKE IKM, so anyone who can take a P-256 discrete logarithm (a future
// quantum computer) would read the DRK, and with it every escrow, straight
// off the public commitment, defeating the post-quantum KEM below. Pedersen
// commitments are perfectly hiding: the commitment and any k-1 shares say
// nothing about s even to an unbounded adversary ("2 shares reveal
// nothing"). Their binding rests on discrete logarithms; if that ever fails,
// forged shares are still caught by the final public-key check (as
// ErrWrongDRK rather than a named share).
//
// # KEM choice
//
// Escrow and the recovery transport use HPKE (RFC 9180) from crypto/hpke
// with KEM MLKEM768-X25519 (X-Wing, draft-ietf-hpke-pq), HKDF-SHA256 and
// AES-256-GCM. The hybrid KEM is confidential if either ML-KEM-768 or X25519
// holds, so an escrow recorded today stays confidential against a future
// quantum adversary ("harvest now, decrypt later"). Shares in transit to a
// recovering enclave pass through the untrusted runner, so they get the same
// KEM: k recorded shares are the DRK.
//
// Holders keep their shares encrypted with age (age-encryption.org/v1) to a
// recipient of their choosing; hybrid "age1pq1…" recipients are post-quantum,
// X25519 "age1…" recipients are not.
//
// # Encodings
//
// A share's binary form is a fixed CBOR array (see Share.MarshalBinary); its
// paper form is documented at Share.Paper. The commitment is CBOR
// (Commitment.MarshalBinary). Decoders are strict and accept only the
// canonical encoding, so fingerprints of encodings are unique.
//
// # Secrets
//
// Keys are typed (PublicKey, PrivateKey, Share, RecoveryKey); none crosses
// the API as bare bytes. Share, PrivateKey and RecoveryKey have Wipe, and
// print as redacted descriptions with any fmt verb. Intermediate buffers are
// wiped where Go allows; copies made inside crypto/hpke, crypto/ecdh, age,
// and immutable strings (the paper form) cannot be, and become garbage.
// No error string contains secret material.
package drk

// Parameters and limits.
const (
	// DefaultThreshold and DefaultCount are the ceremony defaults: 3 of 5.
	DefaultThreshold = 3
	DefaultCount     = 5
	// MinThreshold is the smallest threshold: a 1-of-n "split" is n copies.
	MinThreshold = 2
	// MaxCount bounds the number of shares (and so the threshold); it keeps
	// every index, threshold and count a one-byte CBOR integer.
	MaxCount = 16

	// MaxInfo bounds the escrow info and the recovery context. HPKE's
	// one-stage key schedule encodes their length in 16 bits; the limit
	// leaves room for an attestation document.
	MaxInfo = 16 << 10
	// MaxEscrowSecret bounds the secret Seal escrows (a master key is 32
	// bytes).
	MaxEscrowSecret = 4 << 10
	// MaxAgeFile bounds the age file DecryptHolderShare reads.
	MaxAgeFile = 64 << 10
	// MaxRecoveryCiphertext bounds the ciphertext OpenShare reads.
	MaxRecoveryCiphertext = 4 << 10

	// maxShareEncoding bounds a binary share before it is decoded.
	maxShareEncoding = 256
	// maxCommitmentEncoding bounds a binary commitment before decoding.
	maxCommitmentEncoding = 2048
	// maxPaper bounds the text ParsePaper reads.
	maxPaper = 4096
)
