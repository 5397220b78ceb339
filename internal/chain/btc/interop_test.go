package btc

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	becdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Differential tests against btcd (txscript, btcutil, chaincfg), used here
// only, as the independent second implementation of addresses, the BIP341
// tweak, sighash bytes and script validation.

const differentialCases = 200

var btcdNetworks = []struct {
	net    Network
	params *chaincfg.Params
}{
	{Mainnet, &chaincfg.MainNetParams},
	{Testnet, &chaincfg.TestNet3Params},
	{Regtest, &chaincfg.RegressionNetParams},
}

func TestAddressesMatchBtcutil(t *testing.T) {
	r := testRand(1)
	for i := range differentialCases {
		priv := randomKey(t, r)
		pub := priv.PubKey()
		var root *[32]byte
		if i%2 == 1 { // half with a script tree
			v := random32(r)
			root = &v
		}
		for _, n := range btcdNetworks {
			ours, err := P2WPKHAddress(pub, n.net)
			if err != nil {
				t.Fatalf("case %d: P2WPKHAddress: %v", i, err)
			}
			theirs, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), n.params)
			if err != nil {
				t.Fatalf("case %d: btcutil: %v", i, err)
			}
			compareAddress(t, i, "P2WPKH", ours, theirs, n.params)

			ours, err = P2TRAddress(pub, root, n.net)
			if err != nil {
				t.Fatalf("case %d: P2TRAddress: %v", i, err)
			}
			var q *btcec.PublicKey
			if root == nil {
				q = txscript.ComputeTaprootKeyNoScript(pub)
			} else {
				q = txscript.ComputeTaprootOutputKey(pub, root[:])
			}
			theirsTR, err := btcutil.NewAddressTaproot(schnorr.SerializePubKey(q), n.params)
			if err != nil {
				t.Fatalf("case %d: btcutil: %v", i, err)
			}
			compareAddress(t, i, "P2TR", ours, theirsTR, n.params)
		}
		priv.Zero()
	}
}

func compareAddress(t *testing.T, i int, kind string, ours Address, theirs btcutil.Address, params *chaincfg.Params) {
	t.Helper()
	if ours.String() != theirs.EncodeAddress() {
		t.Fatalf("case %d %s %s: ours %s, btcutil %s", i, kind, params.Name, ours, theirs.EncodeAddress())
	}
	script, err := txscript.PayToAddrScript(theirs)
	if err != nil {
		t.Fatalf("case %d: PayToAddrScript: %v", i, err)
	}
	if !bytes.Equal(ours.ScriptPubKey(), script) {
		t.Fatalf("case %d %s: ScriptPubKey %x, btcd %x", i, kind, ours.ScriptPubKey(), script)
	}
	parsed, err := ParseAddress(theirs.EncodeAddress())
	if err != nil || parsed != ours {
		t.Fatalf("case %d %s: ParseAddress(btcutil's address) = %v, %v; want %v", i, kind, parsed, err, ours)
	}
}

func TestTweakedSignatureVerifiesUnderBtcdOutputKey(t *testing.T) {
	r := testRand(2)
	for i := range differentialCases {
		priv := randomKey(t, r)
		digest := random32(r)
		var root *[32]byte
		if i%2 == 1 {
			v := random32(r)
			root = &v
		}
		aux := random32(r)
		sig, err := SignTaprootKeyPath(priv, root, digest, &aux)
		if err != nil {
			t.Fatalf("case %d: SignTaprootKeyPath: %v", i, err)
		}
		var q *btcec.PublicKey
		if root == nil {
			q = txscript.ComputeTaprootKeyNoScript(priv.PubKey())
		} else {
			q = txscript.ComputeTaprootOutputKey(priv.PubKey(), root[:])
		}
		parsed, err := schnorr.ParseSignature(sig[:])
		if err != nil {
			t.Fatalf("case %d: ParseSignature: %v", i, err)
		}
		if !parsed.Verify(digest[:], q) {
			t.Fatalf("case %d: btcec schnorr.Verify under txscript's output key = false", i)
		}
		// Our output key is txscript's.
		ourQ, err := TaprootOutputKey(priv.PubKey(), root)
		if err != nil {
			t.Fatalf("case %d: TaprootOutputKey: %v", i, err)
		}
		if !bytes.Equal(ourQ[:], schnorr.SerializePubKey(q)) {
			t.Fatalf("case %d: TaprootOutputKey differs from txscript's", i)
		}
		// Our tweaked key is txscript's, and the signature is the one the
		// test-only BIP340 reference makes with it.
		var rootBytes []byte
		if root != nil {
			rootBytes = root[:]
		}
		theirKey := txscript.TweakTaprootPrivKey(*priv, rootBytes)
		ref, err := refSign(theirKey.Key.Bytes(), digest[:], aux)
		if err != nil {
			t.Fatalf("case %d: refSign: %v", i, err)
		}
		if ref != sig {
			t.Fatalf("case %d: SignTaprootKeyPath differs from the reference BIP340 signature with txscript's tweaked key", i)
		}
		theirKey.Zero()
		priv.Zero()
	}
}

func TestSignSchnorrMatchesReferenceImplementation(t *testing.T) {
	r := testRand(3)
	for i := range differentialCases {
		priv := randomKey(t, r)
		digest, aux := random32(r), random32(r)
		sig, err := SignSchnorr(priv, digest, &aux)
		if err != nil {
			t.Fatalf("case %d: SignSchnorr: %v", i, err)
		}
		ref, err := refSign(priv.Key.Bytes(), digest[:], aux)
		if err != nil {
			t.Fatalf("case %d: refSign: %v", i, err)
		}
		if sig != ref {
			t.Fatalf("case %d: SignSchnorr differs from the reference", i)
		}
		xo, _ := XOnly(priv.PubKey())
		if !VerifySchnorr(xo, digest, sig) || !refVerify(xo, digest[:], sig) {
			t.Fatalf("case %d: signature does not verify", i)
		}
		priv.Zero()
	}
}

func TestSignECDSAVerifiesWithBtcec(t *testing.T) {
	r := testRand(4)
	for i := range differentialCases {
		priv := randomKey(t, r)
		digest := random32(r)
		sig, err := SignECDSA(priv, digest)
		if err != nil {
			t.Fatalf("case %d: SignECDSA: %v", i, err)
		}
		parsed, err := becdsa.ParseDERSignature(sig)
		if err != nil {
			t.Fatalf("case %d: ParseDERSignature: %v", i, err)
		}
		if !parsed.Verify(digest[:], priv.PubKey()) {
			t.Fatalf("case %d: btcec ecdsa Verify = false", i)
		}
		if s := parsed.S(); s.IsOverHalfOrder() {
			t.Fatalf("case %d: S is above n/2", i)
		}
		if !bytes.Equal(parsed.Serialize(), sig) {
			t.Fatalf("case %d: DER is not canonical (re-serialises differently)", i)
		}
		priv.Zero()
	}
}

// The strongest check: spend a real output. Build a transaction, let txscript
// compute the sighash (BIP143 for P2WPKH, BIP341 for P2TR), sign it with this
// package, put the witness together with WithSighash, and run btcd's script
// engine with the standardness flags (strict DER, low S, strict encoding,
// witness pubkey type, taproot).

var ecdsaSighashTypes = []txscript.SigHashType{
	txscript.SigHashAll, txscript.SigHashNone, txscript.SigHashSingle,
	txscript.SigHashAll | txscript.SigHashAnyOneCanPay,
	txscript.SigHashNone | txscript.SigHashAnyOneCanPay,
	txscript.SigHashSingle | txscript.SigHashAnyOneCanPay,
}

var taprootSighashTypes = append([]txscript.SigHashType{txscript.SigHashDefault}, ecdsaSighashTypes...)

func spendingTx(r interface{ Read([]byte) (int, error) }, amount int64) *wire.MsgTx {
	var prev chainhash.Hash
	r.Read(prev[:])
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&prev, 1), nil, nil))
	tx.AddTxOut(wire.NewTxOut(amount-500, []byte{0x00, 0x14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}))
	return tx
}

func runEngine(pkScript []byte, tx *wire.MsgTx, hashes *txscript.TxSigHashes, amount int64, fetcher txscript.PrevOutputFetcher) error {
	vm, err := txscript.NewEngine(pkScript, tx, 0, txscript.StandardVerifyFlags, nil, hashes, amount, fetcher)
	if err != nil {
		return err
	}
	return vm.Execute()
}

func TestP2WPKHSpendPassesBtcdScriptEngine(t *testing.T) {
	r := testRand(5)
	for i := range differentialCases {
		priv := randomKey(t, r)
		pub := priv.PubKey()
		a, err := P2WPKHAddress(pub, Mainnet)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		pkScript := a.ScriptPubKey()
		amount := int64(100_000 + i)
		tx := spendingTx(r, amount)
		fetcher := txscript.NewCannedPrevOutputFetcher(pkScript, amount)
		hashes := txscript.NewTxSigHashes(tx, fetcher)
		ht := ecdsaSighashTypes[i%len(ecdsaSighashTypes)]
		digest, err := txscript.CalcWitnessSigHash(pkScript, hashes, ht, tx, 0, amount)
		if err != nil {
			t.Fatalf("case %d: CalcWitnessSigHash: %v", i, err)
		}
		sig, err := SignECDSA(priv, [32]byte(digest))
		if err != nil {
			t.Fatalf("case %d: SignECDSA: %v", i, err)
		}
		w, err := sig.WithSighash(SighashType(ht))
		if err != nil {
			t.Fatalf("case %d: WithSighash(%v): %v", i, ht, err)
		}
		tx.TxIn[0].Witness = wire.TxWitness{w, pub.SerializeCompressed()}
		if err := runEngine(pkScript, tx, hashes, amount, fetcher); err != nil {
			t.Fatalf("case %d (%v): script engine: %v", i, ht, err)
		}
		// Negative control: the same witness fails for another amount.
		if err := runEngine(pkScript, tx, hashes, amount+1, txscript.NewCannedPrevOutputFetcher(pkScript, amount+1)); err == nil {
			t.Fatalf("case %d: engine accepted a signature for the wrong amount", i)
		}
		priv.Zero()
	}
}

func TestP2TRKeyPathSpendPassesBtcdScriptEngine(t *testing.T) {
	r := testRand(6)
	for i := range differentialCases {
		priv := randomKey(t, r)
		var root *[32]byte
		if i%2 == 1 {
			v := random32(r)
			root = &v
		}
		a, err := P2TRAddress(priv.PubKey(), root, Testnet)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		pkScript := a.ScriptPubKey()
		amount := int64(50_000 + i)
		tx := spendingTx(r, amount)
		fetcher := txscript.NewCannedPrevOutputFetcher(pkScript, amount)
		hashes := txscript.NewTxSigHashes(tx, fetcher)
		ht := taprootSighashTypes[i%len(taprootSighashTypes)]
		digest, err := txscript.CalcTaprootSignatureHash(hashes, ht, tx, 0, fetcher)
		if err != nil {
			t.Fatalf("case %d: CalcTaprootSignatureHash: %v", i, err)
		}
		sig, err := SignTaprootKeyPath(priv, root, [32]byte(digest), nil)
		if err != nil {
			t.Fatalf("case %d: SignTaprootKeyPath: %v", i, err)
		}
		w, err := sig.WithSighash(SighashType(ht))
		if err != nil {
			t.Fatalf("case %d: WithSighash(%v): %v", i, ht, err)
		}
		if want := 65; ht == txscript.SigHashDefault {
			want = 64
			if len(w) != want {
				t.Fatalf("case %d: SIGHASH_DEFAULT witness is %d bytes, want %d", i, len(w), want)
			}
		} else if len(w) != want {
			t.Fatalf("case %d: witness is %d bytes, want %d", i, len(w), want)
		}
		tx.TxIn[0].Witness = wire.TxWitness{w}
		if err := runEngine(pkScript, tx, hashes, amount, fetcher); err != nil {
			t.Fatalf("case %d (%v): script engine: %v", i, ht, err)
		}
		// Negative control: an untweaked signature of the same digest fails.
		raw, err := SignSchnorr(priv, [32]byte(digest), nil)
		if err != nil {
			t.Fatalf("case %d: SignSchnorr: %v", i, err)
		}
		w, _ = raw.WithSighash(SighashType(ht))
		tx.TxIn[0].Witness = wire.TxWitness{w}
		if err := runEngine(pkScript, tx, hashes, amount, fetcher); err == nil {
			t.Fatalf("case %d: engine accepted an untweaked signature", i)
		}
		priv.Zero()
	}
}
