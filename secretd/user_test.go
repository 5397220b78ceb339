package secretd_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/cosmos/go-bip39"
	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	gethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
	"github.com/niomon/niomon/internal/chain/bls"
	"github.com/niomon/niomon/internal/chain/eth"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/policy/policytest"
	"github.com/niomon/niomon/internal/testcluster"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/secretd"
)

// passkey adapts the test authenticator to secretd.Stamper.
type passkey struct {
	t *testing.T
	a *policytest.Authenticator
}

func (p passkey) Credential() secretd.Credential { return p.a.Cred }
func (p passkey) Stamp(req []byte) (*secretd.Stamp, error) {
	return p.a.Stamp(p.t, req), nil
}

func newAPIKey(t *testing.T, rights ...string) *secretd.P256Key {
	t.Helper()
	k, err := secretd.NewP256Key(secretd.KindAPIKey, time.Time{}, rights...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var allRights = []string{secretd.RightSign, secretd.RightExport, secretd.RightPolicy}

func ethAddr(t *testing.T, cl *secretd.Client, oid string) common.Address {
	t.Helper()
	a, err := cl.Address(ctxT(t), oid, secretd.AddrEth, "m/44'/60'/0'/0/0", "")
	if err != nil {
		t.Fatal(err)
	}
	return common.HexToAddress(a.Address)
}

const mailTypedData = `{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],"Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"}],"Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]},"primaryType":"Mail","domain":{"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},"message":{"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},"contents":"Hello, Bob!"}}`

// TestEverySchemeSignsForAThirdPartyVerifier signs with each scheme
// through a real cluster and checks the result with a verifier that is
// not ours: go-ethereum, btcec, the standard library.
func TestEverySchemeSignsForAThirdPartyVerifier(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{})
	ctx := ctxT(t)
	key := newAPIKey(t, allRights...)
	if _, err := cl.CreateWallet(ctx, "alice", secretd.CreateOptions{}, key); err != nil {
		t.Fatal(err)
	}
	addr := ethAddr(t, cl, "alice")
	digest := sha256.Sum256([]byte("a message"))
	to := eth.Address(common.HexToAddress("0x3535353535353535353535353535353535353535"))
	ethTx := eth.Tx{Type: 2, ChainID: eth.QuantityFromUint64(1), Nonce: 7, MaxPriorityFeePerGas: eth.QuantityFromUint64(2e9), MaxFeePerGas: eth.QuantityFromUint64(30e9), Gas: 21000, To: to[:], Value: eth.QuantityFromUint64(1e18)}
	txBytes, err := wire.Marshal(ethTx)
	if err != nil {
		t.Fatal(err)
	}
	recoverAddr := func(t *testing.T, h []byte, sig []byte) common.Address {
		t.Helper()
		s := bytes.Clone(sig)
		if s[64] >= 27 {
			s[64] -= 27
		}
		pub, err := gethcrypto.SigToPub(h, s)
		if err != nil {
			t.Fatal(err)
		}
		return gethcrypto.PubkeyToAddress(*pub)
	}
	secpPub := func(t *testing.T, path string) *btcec.PublicKey {
		a, err := cl.Address(ctx, "alice", secretd.AddrSecp256k1, path, "")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := hex.DecodeString(a.PublicKey)
		pub, err := btcec.ParsePubKey(b)
		if err != nil {
			t.Fatal(err)
		}
		return pub
	}
	tests := []struct {
		name   string
		params secretd.SignParams
		verify func(t *testing.T, r *secretd.SignResult)
	}{
		{"secp256k1 digest recovers with go-ethereum", secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: digest[:]},
			func(t *testing.T, r *secretd.SignResult) {
				if got := recoverAddr(t, digest[:], r.Signature); got != addr {
					t.Fatalf("recovered %s, want %s", got, addr)
				}
			}},
		{"personal_sign recovers with go-ethereum", secretd.SignParams{Scheme: secretd.SchemeEthPersonal, Path: "m/44'/60'/0'/0/0", Message: []byte("hello")},
			func(t *testing.T, r *secretd.SignResult) {
				if got := recoverAddr(t, accounts.TextHash([]byte("hello")), r.Signature); got != addr {
					t.Fatalf("recovered %s, want %s", got, addr)
				}
			}},
		{"EIP-712 typed data recovers with go-ethereum", secretd.SignParams{Scheme: secretd.SchemeEthTypedData, Path: "m/44'/60'/0'/0/0", TypedData: mailTypedData},
			func(t *testing.T, r *secretd.SignResult) {
				var td apitypes.TypedData
				if err := json.Unmarshal([]byte(mailTypedData), &td); err != nil {
					t.Fatal(err)
				}
				h, _, err := apitypes.TypedDataAndHash(td)
				if err != nil {
					t.Fatal(err)
				}
				if got := recoverAddr(t, h, r.Signature); got != addr {
					t.Fatalf("recovered %s, want %s", got, addr)
				}
			}},
		{"an EIP-1559 transaction decodes and recovers with go-ethereum", secretd.SignParams{Scheme: secretd.SchemeEthTx, Path: "m/44'/60'/0'/0/0", Tx: txBytes},
			func(t *testing.T, r *secretd.SignResult) {
				var tx types.Transaction
				if err := tx.UnmarshalBinary(r.RawTx); err != nil {
					t.Fatal(err)
				}
				from, err := types.Sender(types.LatestSignerForChainID(big.NewInt(1)), &tx)
				if err != nil || from != addr || tx.Hash() != common.BytesToHash(r.TxHash) || tx.Nonce() != 7 || tx.To().Hex() != common.Address(to).Hex() {
					t.Fatalf("go-ethereum reads from %s (%v), hash %s; want from %s, hash %x", from, err, tx.Hash(), addr, r.TxHash)
				}
			}},
		{"bitcoin ECDSA verifies with btcec", secretd.SignParams{Scheme: secretd.SchemeBTCECDSA, Path: "m/84'/0'/0'/0/0", Digest: digest[:]},
			func(t *testing.T, r *secretd.SignResult) {
				sig, err := btcecdsa.ParseDERSignature(r.Signature)
				if err != nil || !sig.Verify(digest[:], secpPub(t, "m/84'/0'/0'/0/0")) {
					t.Fatalf("btcec: %v", err)
				}
			}},
		{"a taproot key-path signature verifies with btcec under txscript's output key", secretd.SignParams{Scheme: secretd.SchemeBTCTaproot, Path: "m/86'/0'/0'/0/0", Digest: digest[:]},
			func(t *testing.T, r *secretd.SignResult) {
				sig, err := schnorr.ParseSignature(r.Signature)
				out := txscript.ComputeTaprootKeyNoScript(secpPub(t, "m/86'/0'/0'/0/0"))
				if err != nil || !sig.Verify(digest[:], out) {
					t.Fatalf("btcec schnorr: %v", err)
				}
			}},
		{"plain BIP340 verifies with btcec", secretd.SignParams{Scheme: secretd.SchemeBTCSchnorr, Path: "m/86'/0'/0'/0/1", Digest: digest[:]},
			func(t *testing.T, r *secretd.SignResult) {
				sig, err := schnorr.ParseSignature(r.Signature)
				if err != nil || !sig.Verify(digest[:], secpPub(t, "m/86'/0'/0'/0/1")) {
					t.Fatalf("btcec schnorr: %v", err)
				}
			}},
		{"cosmos verifies with btcec over SHA-256 of the sign bytes", secretd.SignParams{Scheme: secretd.SchemeCosmos, Path: "m/44'/118'/0'/0/0", Message: []byte("sign bytes")},
			func(t *testing.T, r *secretd.SignResult) {
				var rr, ss btcec.ModNScalar
				rr.SetByteSlice(r.Signature[:32])
				ss.SetByteSlice(r.Signature[32:])
				h := sha256.Sum256([]byte("sign bytes"))
				if !btcecdsa.NewSignature(&rr, &ss).Verify(h[:], secpPub(t, "m/44'/118'/0'/0/0")) || ss.IsOverHalfOrder() {
					t.Fatal("btcec refuses the cosmos signature, or s is high")
				}
			}},
		{"ed25519 (Solana) verifies with the standard library", secretd.SignParams{Scheme: secretd.SchemeEd25519, Path: "m/44'/501'/0'/0'", Message: []byte("solana message")},
			func(t *testing.T, r *secretd.SignResult) {
				a, err := cl.Address(ctx, "alice", secretd.AddrSolana, "m/44'/501'/0'/0'", "")
				if err != nil {
					t.Fatal(err)
				}
				pub, _ := hex.DecodeString(a.PublicKey)
				if !ed25519.Verify(pub, []byte("solana message"), r.Signature) {
					t.Fatal("ed25519.Verify refuses the signature")
				}
			}},
		{"P-256 verifies with the standard library", secretd.SignParams{Scheme: secretd.SchemeP256, Path: "m/0'/1", Digest: digest[:]},
			func(t *testing.T, r *secretd.SignResult) {
				a, err := cl.Address(ctx, "alice", secretd.AddrP256, "m/0'/1", "")
				if err != nil {
					t.Fatal(err)
				}
				der, _ := hex.DecodeString(a.Address)
				pub, err := x509.ParsePKIXPublicKey(der)
				if err != nil || !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest[:], r.Signature) {
					t.Fatalf("ecdsa.VerifyASN1 refuses the signature (%v)", err)
				}
			}},
		{"BLS verifies against the validator public key", secretd.SignParams{Scheme: secretd.SchemeBLS, Path: "m/12381/3600/0/0/0", Message: []byte("attestation data root")},
			func(t *testing.T, r *secretd.SignResult) {
				a, err := cl.Address(ctx, "alice", secretd.AddrBLS, "m/12381/3600/0/0/0", "")
				if err != nil {
					t.Fatal(err)
				}
				pkb, _ := hex.DecodeString(a.PublicKey)
				pk, err := bls.ParsePublicKey(pkb)
				sig, err2 := bls.ParseSignature(r.Signature)
				if err != nil || err2 != nil || !bls.Verify(pk, []byte("attestation data root"), sig) {
					t.Fatalf("BLS verify refuses (%v, %v)", err, err2)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := cl.Sign(ctx, "alice", tc.params, key)
			if err != nil {
				t.Fatal(err)
			}
			tc.verify(t, r)
		})
	}
}

func TestPasskeysAndSessionKeysSign(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{})
	ctx := ctxT(t)
	pk := passkey{t, policytest.NewAuthenticator(t, policy.AlgES256, "wallet.example", []string{"https://wallet.example"}, allRights...)}
	r, err := cl.CreateWallet(ctx, "bob", secretd.CreateOptions{Words: 12}, pk)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := secretd.NewP256Key(secretd.KindSessionKey, time.Now().Add(time.Hour), secretd.RightSign)
	if err != nil {
		t.Fatal(err)
	}
	enrolled := []secretd.Credential{pk.Credential(), sess.Credential()}
	r, err = cl.UpdatePolicy(ctx, "bob", r.Version, secretd.PolicyChange{Add: []secretd.Credential{sess.Credential()}}, pk, enrolled, sess)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("x"))
	for name, st := range map[string]secretd.Stamper{"passkey": pk, "session key": sess} {
		if _, err := cl.Sign(ctx, "bob", secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: digest[:]}, st); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// A session key holds only what it was given.
	if _, err := cl.Export(ctx, "bob", sess); !errors.Is(err, secretd.ErrUnauthorized) {
		t.Fatalf("export with a sign-only session key: got %v, want ErrUnauthorized", err)
	}
	// Revoking the session key stops it at once.
	if _, err := cl.UpdatePolicy(ctx, "bob", r.Version, secretd.PolicyChange{Remove: [][]byte{sess.Credential().ID}}, pk, enrolled[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Sign(ctx, "bob", secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: digest[:]}, sess); !errors.Is(err, secretd.ErrUnauthorized) {
		t.Fatalf("sign with a revoked session key: got %v, want ErrUnauthorized", err)
	}
}

func deriveEth(t *testing.T, mnemonic string) common.Address {
	t.Helper()
	k, err := hdkeychain.NewMaster(bip39.NewSeed(mnemonic, ""), &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint32{44 + hdkeychain.HardenedKeyStart, 60 + hdkeychain.HardenedKeyStart, hdkeychain.HardenedKeyStart, 0, 0} {
		if k, err = k.Derive(i); err != nil {
			t.Fatal(err)
		}
	}
	pub, _ := k.ECPubKey()
	return gethcrypto.PubkeyToAddress(*pub.ToECDSA())
}

func TestExportOpensOnTheDeviceAndDerivesTheWallet(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{})
	ctx := ctxT(t)
	key := newAPIKey(t, allRights...)
	if _, err := cl.CreateWallet(ctx, "carol", secretd.CreateOptions{}, key); err != nil {
		t.Fatal(err)
	}
	phrase, err := cl.Export(ctx, "carol", key)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(phrase)); n != 24 || !bip39.IsMnemonicValid(phrase) {
		t.Fatalf("exported phrase: %d words, valid=%v; want a valid 24-word mnemonic", n, bip39.IsMnemonicValid(phrase))
	}
	if got, want := deriveEth(t, phrase), ethAddr(t, cl, "carol"); got != want {
		t.Fatalf("the exported mnemonic derives %s, the wallet is %s", got, want)
	}
	events, err := c.Store.List(ctx, "audit", "", 100)
	if err != nil || len(events) != 2 {
		t.Fatalf("audit events after create and export: got %d (%v), want 2", len(events), err)
	}
	for _, ev := range events {
		if bytes.Contains(ev.Blob, []byte(phrase)) || bytes.Contains(ev.Blob, []byte(strings.Fields(phrase)[0]+" "+strings.Fields(phrase)[1])) {
			t.Fatal("an audit event holds the mnemonic")
		}
	}
}

func TestImportedMnemonicIsTheWallet(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{})
	ctx := ctxT(t)
	ent, _ := bip39.NewEntropy(256)
	phrase, _ := bip39.NewMnemonic(ent)
	key := newAPIKey(t, allRights...)
	if _, err := cl.ImportWallet(ctx, "dave", phrase, secretd.CreateOptions{}, key); err != nil {
		t.Fatal(err)
	}
	if got, want := ethAddr(t, cl, "dave"), deriveEth(t, phrase); got != want {
		t.Fatalf("imported wallet address %s, want %s", got, want)
	}
	// The phrase never reached the runner's store in plaintext.
	objs, _ := c.Store.List(ctx, "wallet", "", 100)
	for _, o := range objs {
		if bytes.Contains(o.Blob, []byte(phrase)) || bytes.Contains(o.Blob, ent) {
			t.Fatal("the store holds the imported mnemonic in plaintext")
		}
	}
}

func TestReceiptsWarnAboutCredentialsTheDeviceDidNotEnrol(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{})
	ctx := ctxT(t)
	mine := newAPIKey(t, allRights...)
	r, err := cl.CreateWallet(ctx, "erin", secretd.CreateOptions{}, mine)
	if err != nil {
		t.Fatal(err)
	}
	other := newAPIKey(t, secretd.RightSign)
	// The change adds "other", but this device expects only its own key.
	_, err = cl.UpdatePolicy(ctx, "erin", r.Version, secretd.PolicyChange{Add: []secretd.Credential{other.Credential()}}, mine, []secretd.Credential{mine.Credential()}, other)
	if !errors.Is(err, secretd.ErrUnexpectedCredential) {
		t.Fatalf("got %v, want ErrUnexpectedCredential", err)
	}
	got, err := cl.Policy(ctx, "erin")
	if err != nil || len(got.Unexpected([]secretd.Credential{mine.Credential()})) != 1 {
		t.Fatalf("current policy: %v; want it to name one credential the device did not enrol", err)
	}
}

func TestAConcurrentPolicyChangeLoses(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{})
	ctx := ctxT(t)
	admin := newAPIKey(t, allRights...)
	r, err := cl.CreateWallet(ctx, "fay", secretd.CreateOptions{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	a, b := newAPIKey(t, secretd.RightSign), newAPIKey(t, secretd.RightSign)
	if _, err := cl.UpdatePolicy(ctx, "fay", r.Version, secretd.PolicyChange{Add: []secretd.Credential{a.Credential()}}, admin, []secretd.Credential{admin.Credential(), a.Credential()}, a); err != nil {
		t.Fatal(err)
	}
	// Written against the same, now old, version.
	_, err = cl.UpdatePolicy(ctx, "fay", r.Version, secretd.PolicyChange{Add: []secretd.Credential{b.Credential()}}, admin, nil, b)
	var se *secretd.Error
	if !errors.As(err, &se) || se.Code != "conflict" {
		t.Fatalf("a change against an old version: got %v, want a conflict", err)
	}
}

// Keep the random source referenced for test helpers.
var _ = rand.Reader
var _ = context.Background

func TestAddressesCarryAStatementOnlyTheClusterCanMake(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{})
	ctx := ctxT(t)
	for _, oid := range []string{"frank", "grace"} {
		if _, err := cl.CreateWallet(ctx, oid, secretd.CreateOptions{}, newAPIKey(t, allRights...)); err != nil {
			t.Fatal(err)
		}
	}
	info, err := cl.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const ethPath, btcPath = "m/44'/60'/0'/0/0", "m/84'/0'/0'/0/0"
	eth, err := cl.Address(ctx, "frank", secretd.AddrEth, ethPath, "")
	if err != nil {
		t.Fatal(err)
	}
	btc, err := cl.Address(ctx, "frank", secretd.AddrP2WPKH, btcPath, "bc")
	if err != nil {
		t.Fatal(err)
	}
	grace, err := cl.Address(ctx, "grace", secretd.AddrEth, ethPath, "")
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	forged := eth
	forged.Signature = ed25519.Sign(otherKey, append([]byte("niomon/secretd/v1/address\x00"), eth.Statement...))
	withAddress := func(a secretd.Address, addr string) *secretd.Address { a.Address = addr; return &a }
	withKey := func(a secretd.Address, pub string) *secretd.Address { a.PublicKey = pub; return &a }
	tests := []struct {
		name                   string
		a                      *secretd.Address
		oid, scheme, path, hrp string
		wantErr                bool
	}{
		{"the cluster's answer", &eth, "frank", secretd.AddrEth, ethPath, "", false},
		{"a bitcoin answer with its hrp", &btc, "frank", secretd.AddrP2WPKH, btcPath, "bc", false},
		{"another address in place of the signed one", withAddress(eth, grace.Address), "frank", secretd.AddrEth, ethPath, "", true},
		{"another public key in place of the signed one", withKey(eth, grace.PublicKey), "frank", secretd.AddrEth, ethPath, "", true},
		{"another wallet's signed answer", &grace, "frank", secretd.AddrEth, ethPath, "", true},
		{"the answer for another path", &eth, "frank", secretd.AddrEth, "m/44'/60'/0'/0/1", "", true},
		{"the answer for another scheme", &btc, "frank", secretd.AddrP2TR, btcPath, "bc", true},
		{"the answer for another hrp", &btc, "frank", secretd.AddrP2WPKH, btcPath, "tb", true},
		{"a signature by another key", &forged, "frank", secretd.AddrEth, ethPath, "", true},
		{"no statement", &secretd.Address{Address: eth.Address, PublicKey: eth.PublicKey}, "frank", secretd.AddrEth, ethPath, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := secretd.VerifyAddress(info.ReceiptKey, tc.a, tc.oid, tc.scheme, tc.path, tc.hrp)
			if tc.wantErr != (err != nil) || (err != nil && !errors.Is(err, secretd.ErrAddressStatement)) {
				t.Fatalf("got %v, want an ErrAddressStatement: %t", err, tc.wantErr)
			}
		})
	}
}

// A key is listed in a wallet only with its holder: every credential a
// policy change adds must stamp the change too.
func TestPolicyChangesAddOnlyCredentialsThatProvePossession(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{})
	ctx := ctxT(t)
	admin := newAPIKey(t, allRights...)
	r, err := cl.CreateWallet(ctx, "gus", secretd.CreateOptions{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	version, enrolled := r.Version, []secretd.Credential{admin.Credential()}
	a, b, d := newAPIKey(t, secretd.RightSign), newAPIKey(t, secretd.RightSign), newAPIKey(t, secretd.RightSign)
	tests := []struct {
		name    string
		add     []secretd.Credential
		proofs  []secretd.Stamper
		wantErr error
	}{
		{"no proof", []secretd.Credential{a.Credential()}, nil, secretd.ErrUnauthorized},
		{"a proof by another key", []secretd.Credential{a.Credential()}, []secretd.Stamper{b}, secretd.ErrUnauthorized},
		{"one proof for two keys", []secretd.Credential{a.Credential(), b.Credential()}, []secretd.Stamper{a}, secretd.ErrUnauthorized},
		{"the added key's own proof", []secretd.Credential{a.Credential()}, []secretd.Stamper{a}, nil},
		{"two keys, their proofs in another order", []secretd.Credential{b.Credential(), d.Credential()}, []secretd.Stamper{d, b}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := append(slices.Clone(enrolled), tc.add...)
			got, err := cl.UpdatePolicy(ctx, "gus", version, secretd.PolicyChange{Add: tc.add}, admin, want, tc.proofs...)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("got %v, want the change made", err)
				}
				version, enrolled = got.Version, want
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			now, perr := cl.Policy(ctx, "gus")
			if perr != nil || now.Version != version {
				t.Fatalf("after a refused change: version %v, %v; want %d unchanged", now, perr, version)
			}
		})
	}
}
