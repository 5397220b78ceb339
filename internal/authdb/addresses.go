package authdb

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/niomon/niomon/internal/sqldb"
)

// Address is a cached derivation: the address and public key at a path
// of the user's wallet on a chain. Public data; the enclave is the
// authority and the cache only saves it work.
type Address struct {
	UserID    string
	Chain     string // [a-z0-9_-]{1,32}, e.g. "eth", "btc", "sol"
	Path      string // BIP32-style, e.g. "m/44'/60'/0'/0/0"
	Address   string // printable ASCII
	PublicKey []byte
	// Statement and Signature are the enclave's signed statement of this
	// address (secretd.VerifyAddress checks them); nil for entries cached
	// before statements existed.
	Statement []byte
	Signature []byte
	CreatedAt time.Time
}

func checkAddress(a Address) error {
	if err := checkUserID(a.UserID); err != nil {
		return err
	}
	if err := checkToken("chain", a.Chain, 1, MaxChainLen, "_-"); err != nil {
		return err
	}
	if err := checkDerivationPath(a.Path); err != nil {
		return err
	}
	if len(a.Address) < 1 || len(a.Address) > MaxAddressLen {
		return invalid("address is %d bytes, want 1..%d", len(a.Address), MaxAddressLen)
	}
	for i := 0; i < len(a.Address); i++ {
		if c := a.Address[i]; c <= ' ' || c > '~' {
			return invalid("address has byte 0x%02x at offset %d, want printable ASCII", c, i)
		}
	}
	if err := checkBytes("public key", a.PublicKey, 1, MaxAddressKeyLen); err != nil {
		return err
	}
	if (a.Statement == nil) != (a.Signature == nil) {
		return invalid("set both statement and signature, or neither")
	}
	if a.Statement != nil {
		if err := checkBytes("statement", a.Statement, 1, MaxStatementLen); err != nil {
			return err
		}
		if err := checkBytes("signature", a.Signature, 64, 64); err != nil {
			return err
		}
	}
	return nil
}

// PutAddress caches a (a.CreatedAt is ignored). A derivation never
// changes, so an entry is written once: putting the same value again
// returns the stored entry; a different address or public key for the
// same (user, chain, path) is ErrConflict and changes nothing. The one
// update allowed gives an entry without a statement the statement of a
// (same address and key). ErrNotFound if the user does not exist.
func (d *DB) PutAddress(ctx context.Context, a Address, now time.Time) (Address, error) {
	if err := checkAddress(a); err != nil {
		return Address{}, err
	}
	if err := checkTime("now", now); err != nil {
		return Address{}, err
	}
	_, err := d.db.ExecContext(ctx,
		d.q(`INSERT INTO addresses (user_id, chain, path, address, public_key, statement, signature, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (user_id, chain, path) DO UPDATE SET statement = excluded.statement, signature = excluded.signature
			WHERE addresses.statement IS NULL AND excluded.statement IS NOT NULL
				AND addresses.address = excluded.address AND addresses.public_key = excluded.public_key`),
		a.UserID, a.Chain, a.Path, a.Address, a.PublicKey, a.Statement, a.Signature, d.t(now))
	if sqldb.IsForeignKeyViolation(err) {
		return Address{}, notFound("user " + a.UserID)
	}
	if err != nil {
		return Address{}, dbError("put address", err)
	}
	stored, err := d.GetAddress(ctx, a.UserID, a.Chain, a.Path)
	if err != nil {
		return Address{}, err
	}
	if stored.Address != a.Address || !bytes.Equal(stored.PublicKey, a.PublicKey) {
		return Address{}, conflict("%s address at %s of user %s differs from the cached one", a.Chain, a.Path, a.UserID)
	}
	return stored, nil
}

const addressColumns = `user_id, chain, path, address, public_key, statement, signature, created_at`

func scanAddress(row scanner) (Address, error) {
	var (
		a       Address
		created sqldb.Time
	)
	err := row.Scan(&a.UserID, &a.Chain, &a.Path, &a.Address, &a.PublicKey, &a.Statement, &a.Signature, &created)
	a.CreatedAt = created.Time
	return a, err
}

// GetAddress returns the cached entry, or ErrNotFound.
func (d *DB) GetAddress(ctx context.Context, userID, chain, path string) (Address, error) {
	if err := checkUserID(userID); err != nil {
		return Address{}, err
	}
	if err := checkToken("chain", chain, 1, MaxChainLen, "_-"); err != nil {
		return Address{}, err
	}
	if err := checkDerivationPath(path); err != nil {
		return Address{}, err
	}
	a, err := scanAddress(d.db.QueryRowContext(ctx,
		d.q(`SELECT `+addressColumns+` FROM addresses WHERE user_id = ? AND chain = ? AND path = ?`), userID, chain, path))
	if errors.Is(err, sql.ErrNoRows) {
		return Address{}, notFound("address")
	}
	if err != nil {
		return Address{}, dbError("get address", err)
	}
	return a, nil
}

// ListAddresses returns the user's cached entries ordered by chain and
// path (byte order).
func (d *DB) ListAddresses(ctx context.Context, userID string) ([]Address, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx,
		d.q(`SELECT `+addressColumns+` FROM addresses WHERE user_id = ? ORDER BY chain, path LIMIT ?`),
		userID, MaxListLimit)
	as, err := collect(rows, err, scanAddress)
	if err != nil {
		return nil, dbError("list addresses", err)
	}
	return as, nil
}
