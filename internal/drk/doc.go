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
// The DRK secret is a uniformly random non-zero scalar s of the NIST P-256
// group, drawn with group.P256.RandomNonZeroScalar from
// github.com/cloudflare/circl/group. P-256 serves only as a prime field
// here, the integers mod its order n (about 2^256): no curve point is
// computed or published. The canonical 32-byte big-endian encoding of s
// (Scalar.MarshalBinary) is the input keying material of DeriveKeyPair for
// the HPKE KEM MLKEM768-X25519, so the HPKE private key is fully determined
// by s, and rebuilding s rebuilds it.
//
// s is shared k of n with Shamir's scheme (Shamir 1979) by circl's
// secretsharing package: secretsharing.New(rand, k-1, s) draws f(x) = s +
// a_1·x + … + a_{k-1}·x^{k-1} with random a_j, Share(n) gives share i =
// f(i) for i = 1..n, and secretsharing.Recover(k-1, …) interpolates f(0)
// from k shares. Any k-1 shares are uniformly distributed whatever s is,
// so on their own "2 shares reveal nothing", information-theoretically;
// next to the public commitment and public key the hiding is computational
// (below). Generate checks that k of the new shares rebuild s before it
// returns them.
//
// Plain Shamir returns garbage silently for a wrong set of shares, so each
// split has a public Commitment: for every index i, the SHA-256 fingerprint
// of share i's canonical encoding (Share.Fingerprint, the value a ceremony
// transcript lists per holder), with the DRK fingerprint (SHA-256 of its
// public key), the threshold and the count. Recover checks every share
// against the entry for its index before anything is rebuilt, so a
// tampered or corrupted share is detected and named. Shares also carry the
// DRK fingerprint, threshold and count, so shares of another DRK,
// duplicates and a short set are each reported with their own error; after
// interpolation the rebuilt key's public key must equal the expected one,
// or nothing is returned. That last check also catches a commitment forged
// together with the shares it lists.
//
// Why hash commitments and not Feldman VSS (Feldman 1987, circl's
// CommitSecret and Verify): a Feldman commitment publishes C_0 = s·G, and s
// is the HPKE IKM, so anyone who can take a P-256 discrete logarithm (a
// future quantum computer) would read the DRK, and with it every escrow,
// straight off the public commitment, defeating the post-quantum KEM
// below. Pedersen VSS (Pedersen 1991) hides s perfectly, and the previous
// version of this package used it, but circl offers no Pedersen VSS, and
// it needed hand-written group arithmetic. A share value is a uniformly
// random 256-bit scalar, so its hash reveals nothing short of a preimage
// search: about 2^256 work classically and 2^128 with Grover's algorithm,
// for each share. With k-1 shares the commitment lets one test guesses of
// s, as the public key already lets anyone do; s is a random 256-bit
// value. The hiding is computational (SHA-256 preimage resistance), where
// Pedersen's was unconditional; binding rests on SHA-256 collision
// resistance, which a quantum computer does not break either. What a hash
// commitment does not give is a VSS's check that the n shares lie on one
// polynomial of degree k-1 without rebuilding the key: holders trust the
// enclave that dealt the shares, as they trust it with the DRK itself.
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
// A share's binary form is a fixed CBOR array, version 2 (see
// Share.MarshalBinary: 73 bytes); its paper form is documented at
// Share.Paper. The commitment is a CBOR array, version 2
// (Commitment.MarshalBinary: 39 + 34·n bytes). Version 1 (Pedersen VSS,
// with a blinding value in each share and curve points in the commitment)
// is refused. Decoders are strict and accept only the canonical encoding,
// so fingerprints of encodings are unique.
//
// # Secrets
//
// Keys are typed (PublicKey, PrivateKey, Share, RecoveryKey); none crosses
// the API as bare bytes. Share, PrivateKey and RecoveryKey have Wipe, and
// print as redacted descriptions with any fmt verb. Intermediate buffers are
// wiped where Go allows, and so are the circl scalars this package holds
// (s, the share values, the rebuilt s) once used. What cannot be wiped
// becomes garbage: copies made inside crypto/hpke, age and circl (the
// polynomial coefficients inside a secretsharing.SecretSharing, the copies
// its Lagrange interpolation makes, the math/big values and reallocated
// byte slices of every P-256 scalar operation, the big.Int of
// RandomScalar), and immutable strings (the paper form). No error string
// contains secret material.
//
// circl's P-256 scalar arithmetic is built on math/big and is not constant
// time. It runs only in a ceremony (Generate) and a recovery (Recover): a
// few hundred field operations at most, inside the enclave, once per
// ceremony or recovery. Their timing is all an observer outside can
// measure of the secret computation.
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
	// maxCommitmentEncoding bounds a binary commitment before decoding
	// (MaxCount shares encode to 583 bytes).
	maxCommitmentEncoding = 1024
	// maxPaper bounds the text ParsePaper reads.
	maxPaper = 4096
)
