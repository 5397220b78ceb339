package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/secretd"
)

func addressOf(t *testing.T, w *nioapi.Wallet, chain string) nioapi.Address {
	t.Helper()
	for _, a := range w.Addresses {
		if a.Chain == chain {
			return a
		}
	}
	t.Fatalf("the wallet has no %s address: %+v", chain, w.Addresses)
	return nioapi.Address{}
}

// The "done" path, in process: a new user signs up with the code
// from a real mail, gets a wallet whose only credential is their device
// key, sees Ethereum, Bitcoin and Solana addresses, and signs; go-ethereum,
// btcec and crypto/ed25519 verify the signatures against those addresses.
func TestEmailSignup_NewUserGetsAWalletAndSignsWhatThirdPartyLibrariesVerify(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, envOptions{postgres: backend == "postgres"})
			ctx := context.Background()
			c := e.client()
			s := e.emailSignIn(c, "Alice@Example.com", true)
			if !s.NewUser || s.User.State != "pending" || s.User.Email != "alice@example.com" || s.Token == "" {
				t.Fatalf("sign-up: got %+v, want a new pending user alice@example.com with a bearer token", s)
			}
			key, err := secretd.NewP256Key(secretd.KindSessionKey, time.Now().Add(24*time.Hour), secretd.RightSign, secretd.RightExport, secretd.RightPolicy)
			if err != nil {
				t.Fatal(err)
			}
			created := e.createWallet(c, s.User.ID, key)
			cfg, err := c.Config(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := secretd.VerifyReceipt(cfg.ReceiptKey, &policy.SignedReceipt{Receipt: created.Receipt.Receipt, Signature: created.Receipt.Signature})
			if err != nil {
				t.Fatalf("receipt: %v", err)
			}
			if rc.OID != s.User.ID || len(rc.Unexpected([]policy.Credential{key.Credential()})) != 0 || len(rc.Credentials) != 1 {
				t.Fatalf("receipt: got oid %s with %d credentials, want the user's wallet with exactly the device key", rc.OID, len(rc.Credentials))
			}
			me, err := c.Me(ctx)
			if err != nil || me.User.State != "active" || !me.User.WalletReady {
				t.Fatalf("after the wallet: got %+v, %v; want an active user", me, err)
			}
			w, err := c.Wallet(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(w.Addresses) != len(nioapi.DefaultAccounts) {
				t.Fatalf("addresses: got %d, want 4 (ethereum, bitcoin, bitcoin-taproot, solana)", len(w.Addresses))
			}
			// Each is the one the cluster signed for this wallet.
			for _, a := range w.Addresses {
				if _, err := nioapi.VerifyAddress(cfg.ReceiptKey, s.User.ID, a); err != nil {
					t.Fatalf("%s address: %v", a.Chain, err)
				}
			}

			sign := func(p policy.SignParams) *nioapi.SignResult {
				t.Helper()
				var out nioapi.SignResult
				if err := e.stamped(c, s.User.ID, key, "/v1/wallet/sign", policy.MethodSign, p, &out); err != nil {
					t.Fatalf("sign %s: %v", p.Scheme, err)
				}
				return &out
			}
			tests := []struct {
				name  string
				check func(t *testing.T)
			}{
				{"an EIP-191 message recovers to the ethereum address with go-ethereum", func(t *testing.T) {
					eth := addressOf(t, w, "ethereum")
					r := sign(policy.SignParams{Scheme: api.SchemeEthPersonal, Path: eth.Path, Message: []byte("hello niomon")})
					sig := append([]byte{}, r.Signature...)
					sig[64] -= 27
					pub, err := crypto.SigToPub(accounts.TextHash([]byte("hello niomon")), sig)
					if err != nil {
						t.Fatal(err)
					}
					if got := crypto.PubkeyToAddress(*pub); got != common.HexToAddress(eth.Address) || got.Hex() != eth.Address {
						t.Fatalf("recovered %s, want %s", got.Hex(), eth.Address)
					}
				}},
				{"a bitcoin ECDSA signature verifies with btcec for the p2wpkh address's key", func(t *testing.T) {
					btc := addressOf(t, w, "bitcoin")
					digest := sha256.Sum256([]byte("a sighash"))
					r := sign(policy.SignParams{Scheme: api.SchemeBTCECDSA, Path: btc.Path, Digest: digest[:]})
					pub, err := btcec.ParsePubKey(r.PublicKey)
					if err != nil {
						t.Fatal(err)
					}
					addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), &chaincfg.MainNetParams)
					if err != nil || addr.EncodeAddress() != btc.Address {
						t.Fatalf("the signing key's address is %v, want %s", addr, btc.Address)
					}
					sig, err := ecdsa.ParseDERSignature(r.Signature)
					if err != nil || !sig.Verify(digest[:], pub) {
						t.Fatalf("the DER signature does not verify: %v", err)
					}
				}},
				{"an ed25519 signature verifies for the solana address", func(t *testing.T) {
					sol := addressOf(t, w, "solana")
					msg := []byte("a solana message")
					r := sign(policy.SignParams{Scheme: api.SchemeEd25519, Path: sol.Path, Message: msg})
					pub := base58.Decode(sol.Address)
					if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, msg, r.Signature) {
						t.Fatalf("the signature does not verify under the address's key %x", pub)
					}
				}},
			}
			for _, tc := range tests {
				t.Run(tc.name, tc.check)
			}
			if strings.Contains(e.logs.String(), "alice@example.com") {
				t.Error("the server logged the email address")
			}
			for _, a := range w.Addresses {
				if _, err := hex.DecodeString(a.PublicKey); err != nil || a.PublicKey == "" {
					t.Errorf("%s: public key %q is not hex", a.Chain, a.PublicKey)
				}
			}
		})
	}
}
