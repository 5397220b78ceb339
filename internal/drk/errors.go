package drk

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers match them with errors.Is; the wrapped detail
// (fmt.Errorf("%w: …")) names share indices, counts, positions and limits,
// never a share value, a key, a plaintext or an identity.
var (
	// ErrParams: a threshold or share count outside
	// MinThreshold ≤ threshold ≤ count ≤ MaxCount.
	ErrParams = errors.New("drk: invalid threshold or share count")
	// ErrTooFewShares: fewer distinct valid shares than the threshold.
	ErrTooFewShares = errors.New("drk: too few shares")
	// ErrBadShare: a share that does not match the commitment (tampered or
	// corrupted). Recover returns it as a *BadShareError naming the share.
	ErrBadShare = errors.New("drk: share does not match the commitment")
	// ErrDuplicateShare: the same share index given more than once.
	ErrDuplicateShare = errors.New("drk: duplicate share")
	// ErrWrongDRK: a share or commitment made for another DRK, or shares
	// that rebuild a key other than the expected public key.
	ErrWrongDRK = errors.New("drk: share or commitment belongs to another DRK")
	// ErrChecksum: a paper share whose checksum does not match (a typing
	// mistake, a missing or extra character).
	ErrChecksum = errors.New("drk: paper share checksum mismatch")
	// ErrMalformed: an encoding that does not parse, breaks a limit, or a
	// key that is unset or wiped.
	ErrMalformed = errors.New("drk: malformed input")
	// ErrOpen: a ciphertext that does not decrypt (wrong key, wrong
	// info/context, or tampered).
	ErrOpen = errors.New("drk: decryption failed")
)

// BadShareError reports a share that fails the commitment check. It matches
// ErrBadShare with errors.Is. Index is the share's own index (1..count).
type BadShareError struct {
	Index int
}

func (e *BadShareError) Error() string {
	return fmt.Sprintf("drk: share %d does not match the commitment", e.Index)
}

// Unwrap makes errors.Is(err, ErrBadShare) true.
func (e *BadShareError) Unwrap() error { return ErrBadShare }
