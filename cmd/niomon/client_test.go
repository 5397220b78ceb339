package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/cosmos/go-bip39"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

const mailTypedData = `{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],"Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"}],"Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]},"primaryType":"Mail","domain":{"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},"message":{"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},"contents":"Hello, Bob!"}}`

func recoverEth(t *testing.T, hash []byte, sigHex string) string {
	t.Helper()
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != 65 {
		t.Fatalf("signature %q", sigHex)
	}
	if sig[64] >= 27 {
		sig[64] -= 27
	}
	pub, err := crypto.SigToPub(hash, sig)
	if err != nil {
		t.Fatal(err)
	}
	return crypto.PubkeyToAddress(*pub).Hex()
}

// ethAddressOf derives m/44'/60'/0'/0/0 from a mnemonic with btcutil's
// BIP32 and go-bip39: an implementation independent of ours.
func ethAddressOf(t *testing.T, mnemonic string) string {
	t.Helper()
	seed, err := bip39.NewSeedWithErrorChecking(mnemonic, "")
	if err != nil {
		t.Fatal(err)
	}
	k, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint32{hdkeychain.HardenedKeyStart + 44, hdkeychain.HardenedKeyStart + 60, hdkeychain.HardenedKeyStart, 0, 0} {
		if k, err = k.Derive(i); err != nil {
			t.Fatal(err)
		}
	}
	priv, err := k.ECPrivKey()
	if err != nil {
		t.Fatal(err)
	}
	return crypto.PubkeyToAddress(*priv.PubKey().ToECDSA()).Hex()
}

// A backend developer's script: an API key, sign-up with a wallet, every
// signing command, export and import, each checked by a third-party
// library.
func TestClient_AnAPIKeyUserScriptsEveryCommand(t *testing.T) {
	dir := t.TempDir()
	d := startDev(t, filepath.Join(dir, "data"), freePort(t), nil)
	key := filepath.Join(dir, "backend.json")

	newKey := decodeJSON[map[string]string](t, d.cli(t, nil, key, "apikey", "new", "--json"))
	if newKey["key_file"] != key || len(newKey["key_id"]) != 64 {
		t.Fatalf("apikey new: %v", newKey)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	if _, _, err := d.cliResult(nil, key, "apikey", "new"); err == nil {
		t.Fatal("apikey new overwrote an existing key file")
	}
	w := decodeJSON[wallet](t, d.cli(t, nil, key, "signup", "--json"))
	eth, taproot := w.addr(t, "ethereum"), w.addr(t, "bitcoin-taproot")

	digest := sha256.Sum256([]byte("a digest"))
	txFile := filepath.Join(dir, "tx.json")
	os.WriteFile(txFile, []byte(`{"type":"0x2","chainId":"0x1","nonce":"0x7","to":"0x000000000000000000000000000000000000dEaD","value":"0xde0b6b3a7640000","gas":"0x5208","maxFeePerGas":"0x3b9aca00","maxPriorityFeePerGas":"0x59682f00"}`), 0o600)
	tdFile := filepath.Join(dir, "typed.json")
	os.WriteFile(tdFile, []byte(mailTypedData), 0o600)

	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, s signed, raw map[string]string)
	}{
		{"sign digest recovers to the ethereum address", []string{"sign", "digest", hex.EncodeToString(digest[:])}, func(t *testing.T, s signed, _ map[string]string) {
			if got := recoverEth(t, digest[:], s.Signature); got != eth.Address {
				t.Fatalf("recovered %s, want %s", got, eth.Address)
			}
		}},
		{"sign typed-data recovers with go-ethereum's EIP-712 hash", []string{"sign", "typed-data", tdFile}, func(t *testing.T, s signed, _ map[string]string) {
			var td apitypes.TypedData
			if err := json.Unmarshal([]byte(mailTypedData), &td); err != nil {
				t.Fatal(err)
			}
			h, _, err := apitypes.TypedDataAndHash(td)
			if err != nil {
				t.Fatal(err)
			}
			if got := recoverEth(t, h, s.Signature); got != eth.Address {
				t.Fatalf("recovered %s, want %s", got, eth.Address)
			}
		}},
		{"sign eth-tx gives a raw transaction go-ethereum decodes to our sender", []string{"sign", "eth-tx", txFile}, func(t *testing.T, _ signed, raw map[string]string) {
			b, err := hex.DecodeString(strings.TrimPrefix(raw["raw_tx"], "0x"))
			if err != nil {
				t.Fatal(err)
			}
			var tx types.Transaction
			if err := tx.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			from, err := types.Sender(types.LatestSignerForChainID(big.NewInt(1)), &tx)
			if err != nil || from.Hex() != eth.Address {
				t.Fatalf("sender %s (%v), want %s", from.Hex(), err, eth.Address)
			}
			if tx.Nonce() != 7 || *tx.To() != common.HexToAddress("0x000000000000000000000000000000000000dEaD") || tx.Hash().Hex() != raw["tx_hash"] {
				t.Fatalf("the transaction: nonce %d, to %s, hash %s vs %s", tx.Nonce(), tx.To(), tx.Hash().Hex(), raw["tx_hash"])
			}
		}},
		{"sign bip340 --taproot verifies under the taproot address's output key", []string{"sign", "bip340", "--taproot", hex.EncodeToString(digest[:])}, func(t *testing.T, s signed, _ map[string]string) {
			addr, err := btcutil.DecodeAddress(taproot.Address, &chaincfg.MainNetParams)
			if err != nil {
				t.Fatal(err)
			}
			q, err := schnorr.ParsePubKey(addr.ScriptAddress())
			if err != nil {
				t.Fatal(err)
			}
			sigB, _ := hex.DecodeString(s.Signature)
			sig, err := schnorr.ParseSignature(sigB)
			if err != nil || !sig.Verify(digest[:], q) {
				t.Fatalf("BIP340 signature does not verify under the output key: %v", err)
			}
		}},
		{"sign bip340 verifies under the returned key", []string{"sign", "bip340", hex.EncodeToString(digest[:])}, func(t *testing.T, s signed, _ map[string]string) {
			pubB, _ := hex.DecodeString(s.PublicKey)
			if len(pubB) == 33 {
				pubB = pubB[1:]
			}
			pub, err := schnorr.ParsePubKey(pubB)
			if err != nil {
				t.Fatal(err)
			}
			sigB, _ := hex.DecodeString(s.Signature)
			sig, err := schnorr.ParseSignature(sigB)
			if err != nil || !sig.Verify(digest[:], pub) {
				t.Fatalf("BIP340 signature does not verify: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := d.cli(t, nil, key, append([]string{"--json"}, tc.args...)...)
			tc.check(t, decodeJSON[signed](t, out), decodeJSON[map[string]string](t, out))
		})
	}

	t.Run("export shows the mnemonic of the wallet here", func(t *testing.T) {
		out, errOut, err := d.cliResult(nil, key, "export", "--json")
		if err != nil {
			t.Fatal(err, errOut)
		}
		m := decodeJSON[map[string]string](t, out)["mnemonic"]
		if len(strings.Fields(m)) != 24 || ethAddressOf(t, m) != eth.Address {
			t.Fatalf("the exported mnemonic (%d words) does not derive the wallet's address", len(strings.Fields(m)))
		}
		if !strings.Contains(errOut, "do not share it") {
			t.Fatal("export gives no warning")
		}
		if strings.Contains(d.p.stderr.String(), strings.Fields(m)[0]+" "+strings.Fields(m)[1]) {
			t.Fatal("the server log holds the mnemonic")
		}
	})

	t.Run("wallet import encrypts the mnemonic here and reaches the known address", func(t *testing.T) {
		other := filepath.Join(dir, "importer.json")
		d.cli(t, nil, other, "apikey", "new")
		if _, errOut, err := d.cliResult(nil, other, "login"); err == nil || !strings.Contains(errOut, "unauthorized") {
			t.Fatalf("login before signup: %v %s", err, errOut)
		}
		mn := filepath.Join(dir, "mnemonic.txt")
		os.WriteFile(mn, []byte(strings.Repeat("abandon ", 11)+"about\n"), 0o600)
		if got := decodeJSON[map[string]any](t, d.cli(t, nil, other, "--json", "signup", "--no-wallet")); got["state"] != "pending" {
			t.Fatalf("signup --no-wallet: %v, want a pending user", got)
		}
		got := decodeJSON[wallet](t, d.cli(t, nil, other, "--json", "wallet", "import", "--mnemonic-file", mn))
		// The BIP39 test mnemonic's first Ethereum account.
		if a := got.addr(t, "ethereum").Address; a != "0x9858EfFD232B4033E47d90003D41EC34EcaEda94" {
			t.Fatalf("imported address %s", a)
		}
		if strings.Contains(d.p.stderr.String(), "abandon") {
			t.Fatal("the server log holds the imported mnemonic")
		}
	})

	t.Run("a mistyped command is a usage error, not a crash", func(t *testing.T) {
		for _, args := range [][]string{{"sign", "digest", "zz"}, {"sign", "nothing", "x"}, {"walet", "create"}, {"sign", "digest"}} {
			_, errOut, err := d.cliResult(nil, key, args...)
			if err == nil || strings.Contains(errOut, "panic") || !strings.HasPrefix(strings.TrimSpace(errOut), "niomon") && !strings.Contains(errOut, "Usage") {
				t.Fatalf("%v: got %v %q", args, err, errOut)
			}
		}
	})

	t.Run("logout ends the saved session", func(t *testing.T) {
		d.cli(t, nil, key, "logout")
		if _, err := os.Stat(key + ".session"); !os.IsNotExist(err) {
			t.Fatalf("the session file remains: %v", err)
		}
		// An API key signs in again by itself.
		if got := decodeJSON[wallet](t, d.cli(t, nil, key, "--json", "addresses")); got.OID != w.OID {
			t.Fatalf("after logout and automatic login: wallet %s, want %s", got.OID, w.OID)
		}
	})
}
