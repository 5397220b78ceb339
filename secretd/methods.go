package secretd

import (
	"context"
	"os"
	"sort"
	"strings"

	"github.com/niomon/niomon/internal/wire"
)

// Key is a static_key client credential: an X25519 private key. Its public
// half goes on the enclave's allow-list.
type Key struct{ k wire.PrivateKey }

// GenerateKey returns a new random key.
func GenerateKey() (Key, error) {
	k, err := wire.GeneratePrivateKey()
	return Key{k: k}, err
}

// ParseKey decodes a base64 private key.
func ParseKey(b64 string) (Key, error) {
	k, err := wire.ParsePrivateKey(b64)
	return Key{k: k}, err
}

// LoadKeyFile reads a key file: the base64 private key on one line; lines
// starting with '#' are comments.
func LoadKeyFile(path string) (Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, err
	}
	defer clear(b)
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			return ParseKey(line)
		}
	}
	return Key{}, wire.ErrBadKey
}

// PublicKey is the key's public half in base64, the form the allow-list
// takes.
func (k Key) PublicKey() string { return k.k.Public().String() }

// MarshalKeyFile returns the key-file form of k. Write it with mode 0600.
func (k Key) MarshalKeyFile() []byte {
	return []byte("# secretd static_key client key. Keep secret.\n" + k.k.MarshalBase64() + "\n")
}

// GenerateWallet creates a wallet with a new BIP39 mnemonic of words words
// (12, 15, 18, 21 or 24) under oid, by hdwallet_generate_with_policy. It
// fails with ErrExists when oid is taken; it never overwrites.
func (c *Client) GenerateWallet(ctx context.Context, oid string, words int, attributes map[string]string, policyID string) (string, error) {
	var out string
	err := c.Call(ctx, "hdwallet_generate_with_policy", []any{oid, words, attrPairs(attributes), policyID}, &out)
	return out, err
}

// ImportWalletPlaintext imports an existing mnemonic under oid, by
// hdwallet_import_with_policy. Only an enclave started in dev mode with
// plaintext import enabled offers it; it exists for tests and migration
// rehearsals.
func (c *Client) ImportWalletPlaintext(ctx context.Context, oid, mnemonic string, attributes map[string]string, policyID string) (string, error) {
	var out string
	err := c.Call(ctx, "hdwallet_import_with_policy", []any{oid, mnemonic, attrPairs(attributes), policyID}, &out)
	return out, err
}

// ExtendedPublicKey is the public key at a derivation path.
type ExtendedPublicKey struct {
	PublicKey         string `cbor:"PublicKey"`         // hex, 33-byte compressed secp256k1 point
	ExtendedPublicKey string `cbor:"ExtendedPublicKey"` // BIP32 xpub
}

// ExtendedPublicKey returns the secp256k1 public key and xpub at path (for
// example "m/44'/60'/0'/0/0") of wallet oid.
func (c *Client) ExtendedPublicKey(ctx context.Context, oid, path string) (ExtendedPublicKey, error) {
	var out ExtendedPublicKey
	err := c.Call(ctx, "hdwallet_get_extended_public_key", []any{oid, path}, &out)
	return out, err
}

// Attest returns an attestation document with nonce, whose public key is
// the cluster identity.
func (c *Client) Attest(ctx context.Context, nonce []byte) ([]byte, error) {
	var doc []byte
	err := c.Call(ctx, "system_attest", []any{nonce}, &doc)
	return doc, err
}

// Ping checks a session end to end.
func (c *Client) Ping(ctx context.Context) error {
	var out string
	return c.Call(ctx, "system_ping", nil, &out)
}

// attrPairs turns attributes into the wire's [[key, value]...], sorted so
// that equal maps give equal requests.
func attrPairs(m map[string]string) [][]string {
	out := make([][]string, 0, len(m))
	for k, v := range m {
		out = append(out, []string{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}
