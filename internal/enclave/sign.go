package enclave

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/chain/bls"
	"github.com/niomon/niomon/internal/chain/btc"
	"github.com/niomon/niomon/internal/chain/cosmos"
	"github.com/niomon/niomon/internal/chain/eth"
	"github.com/niomon/niomon/internal/chain/sol"
	"github.com/niomon/niomon/internal/hd"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/wire"
)

// hdwalletSign([request, stamp]) → SignResult.
func (e *Enclave) hdwalletSign(ctx context.Context, _ wire.Peer, req wire.Request) (_ any, err error) {
	var p policy.SignParams
	s, snap, err := e.authorizeUser(ctx, req, policy.MethodSign, policy.RightSign, &p, false)
	if err != nil {
		return nil, err
	}
	defer snap.release()
	var effect bool // a signature has none until it is answered
	defer e.settle(s, &err, &effect)
	res, err := e.sign(ctx, snap, &p)
	if err != nil {
		return nil, err
	}
	res.Instance = snap.instance[:]
	return res, nil
}

// fields says which optional SignParams fields a scheme reads; any other
// set field is an error, so a request never carries data that was
// ignored.
func fields(p *policy.SignParams, digest, message, typedData, tx, merkleRoot bool) error {
	switch {
	case digest != (p.Digest != nil), digest && len(p.Digest) != 32:
		if digest {
			return invalid("this scheme signs a 32-byte digest")
		}
		return invalid("this scheme takes no digest")
	case !message && p.Message != nil: // an empty message is a message: CBOR omits it
		return invalid("this scheme takes no message")
	case typedData != (p.TypedData != ""):
		return invalid("typed_data is for eth_typed_data_v4 only, and required there")
	case tx != (len(p.Tx) > 0):
		return invalid("tx is for eth_transaction only, and required there")
	case !merkleRoot && p.MerkleRoot != nil, merkleRoot && p.MerkleRoot != nil && len(p.MerkleRoot) != 32:
		return invalid("merkle_root is a 32-byte taproot script tree root, for btc_taproot only")
	}
	return nil
}

func (e *Enclave) sign(ctx context.Context, snap *snapshot, p *policy.SignParams) (*api.SignResult, error) {
	switch p.Scheme {
	case api.SchemeSecp256k1, api.SchemeEthPersonal, api.SchemeEthTypedData, api.SchemeEthTx, api.SchemeBTCECDSA, api.SchemeBTCTaproot, api.SchemeBTCSchnorr, api.SchemeCosmos:
		return e.signSecp256k1(ctx, snap, p)
	case api.SchemeEd25519:
		if err := fields(p, false, true, false, false, false); err != nil {
			return nil, err
		}
		return e.withNode(snap, hd.Ed25519, p.Path, func(n *hd.Node) ([]byte, error) {
			k, err := n.Ed25519PrivateKey()
			if err != nil {
				return nil, err
			}
			defer clear(k)
			sig, err := sol.Sign(k, p.Message)
			return sig[:], err
		})
	case api.SchemeP256:
		if err := fields(p, true, false, false, false, false); err != nil {
			return nil, err
		}
		return e.withNode(snap, hd.NIST256p1, p.Path, func(n *hd.Node) ([]byte, error) {
			k, err := n.P256PrivateKey()
			if err != nil {
				return nil, err
			}
			return ecdsa.SignASN1(rand.Reader, k, p.Digest)
		})
	case api.SchemeBLS:
		if err := fields(p, false, true, false, false, false); err != nil {
			return nil, err
		}
		sk, err := e.blsKey(snap, p.Path)
		if err != nil {
			return nil, err
		}
		defer sk.Wipe()
		pk, err := sk.PublicKey()
		if err != nil {
			return nil, err
		}
		sig, err := bls.Sign(sk, p.Message)
		if err != nil {
			return nil, err
		}
		return &api.SignResult{Signature: sig[:], PublicKey: pk[:]}, nil
	}
	return nil, invalid("unknown scheme")
}

func (e *Enclave) signSecp256k1(ctx context.Context, snap *snapshot, p *policy.SignParams) (*api.SignResult, error) {
	var err error
	switch p.Scheme {
	case api.SchemeSecp256k1, api.SchemeBTCECDSA, api.SchemeBTCSchnorr:
		err = fields(p, true, false, false, false, false)
	case api.SchemeBTCTaproot:
		err = fields(p, true, false, false, false, true)
	case api.SchemeEthPersonal, api.SchemeCosmos:
		err = fields(p, false, true, false, false, false)
	case api.SchemeEthTypedData:
		err = fields(p, false, false, true, false, false)
	case api.SchemeEthTx:
		err = fields(p, false, false, false, true, false)
	}
	if err != nil {
		return nil, err
	}
	// Parse what is to be signed before touching the key: bad input costs
	// no derivation.
	var digest [32]byte
	var tx eth.Tx
	switch p.Scheme {
	case api.SchemeEthPersonal:
		digest = eth.PersonalMessageHash(p.Message)
	case api.SchemeEthTypedData:
		select {
		case e.typedData <- struct{}{}:
		case <-ctx.Done():
			return nil, errBusy
		}
		td, err := eth.ParseTypedData([]byte(p.TypedData))
		<-e.typedData
		if err != nil {
			return nil, invalid("typed_data: " + err.Error())
		}
		digest = td.Digest
	case api.SchemeEthTx:
		if err := wire.Unmarshal(p.Tx, &tx); err != nil {
			return nil, invalid("tx is not a transaction map")
		}
		if digest, err = tx.SigningHash(); err != nil {
			return nil, invalid("tx: " + err.Error())
		}
	case api.SchemeSecp256k1, api.SchemeBTCECDSA, api.SchemeBTCSchnorr, api.SchemeBTCTaproot:
		copy(digest[:], p.Digest)
	}

	n, err := e.node(snap, hd.Secp256k1, p.Path)
	if err != nil {
		return nil, err
	}
	defer n.Wipe()
	k, err := n.Secp256k1PrivateKey()
	if err != nil {
		return nil, err
	}
	defer k.Zero()
	res := &api.SignResult{PublicKey: n.PublicKey()}
	switch p.Scheme {
	case api.SchemeSecp256k1, api.SchemeEthPersonal, api.SchemeEthTypedData, api.SchemeEthTx:
		sig, err := eth.SignDigest(k, digest)
		if err != nil {
			return nil, err
		}
		switch p.Scheme {
		case api.SchemeSecp256k1:
			b := sig.Bytes()
			res.Signature = b[:]
		case api.SchemeEthTx:
			signed, err := tx.Assemble(sig)
			if err != nil {
				return nil, err
			}
			b := sig.Bytes()
			res.Signature, res.RawTx, res.TxHash = b[:], signed.Raw, signed.Hash[:]
		default:
			b := sig.LegacyBytes()
			res.Signature = b[:]
		}
		if p.Scheme != api.SchemeSecp256k1 {
			res.Digest = digest[:]
		}
	case api.SchemeBTCECDSA:
		sig, err := btc.SignECDSA(k, digest)
		if err != nil {
			return nil, err
		}
		res.Signature = sig
	case api.SchemeBTCSchnorr, api.SchemeBTCTaproot:
		var aux [32]byte
		if _, err := rand.Read(aux[:]); err != nil {
			return nil, err
		}
		var sig btc.SchnorrSignature
		if p.Scheme == api.SchemeBTCSchnorr {
			sig, err = btc.SignSchnorr(k, digest, &aux)
		} else {
			var root *[32]byte
			if p.MerkleRoot != nil {
				root = (*[32]byte)(p.MerkleRoot)
			}
			sig, err = btc.SignTaprootKeyPath(k, root, digest, &aux)
		}
		if err != nil {
			return nil, err
		}
		res.Signature = sig[:]
	case api.SchemeCosmos:
		sig, err := cosmos.Sign(k, p.Message)
		if err != nil {
			return nil, err
		}
		res.Signature = sig[:]
	}
	return res, nil
}

// withNode signs with the key at path on curve cv of snap.
func (e *Enclave) withNode(snap *snapshot, cv hd.Curve, path string, sign func(*hd.Node) ([]byte, error)) (*api.SignResult, error) {
	n, err := e.node(snap, cv, path)
	if err != nil {
		return nil, err
	}
	defer n.Wipe()
	sig, err := sign(n)
	if err != nil {
		return nil, err
	}
	return &api.SignResult{Signature: sig, PublicKey: n.PublicKey()}, nil
}

// node derives the key at path on curve cv of snap.
func (e *Enclave) node(snap *snapshot, cv hd.Curve, path string) (*hd.Node, error) {
	hp, err := hd.ParsePath(path)
	if err != nil {
		return nil, invalid("path must be a BIP32 path such as m/44'/60'/0'/0/0")
	}
	n, err := e.cache.node(snap, cv, hp)
	switch {
	case errors.Is(err, hd.ErrHardenedOnly):
		return nil, invalid("ed25519 paths are hardened only (SLIP-10), e.g. m/44'/501'/0'/0'")
	case errors.Is(err, hd.ErrInvalidChild):
		return nil, invalid("this path has an invalid BIP32 child; use the next index")
	case err != nil:
		return nil, storageErr(err)
	}
	return n, nil
}

// blsKey derives the EIP-2333 key at an EIP-2334 path of snap.
func (e *Enclave) blsKey(snap *snapshot, path string) (*bls.SecretKey, error) {
	if _, err := bls.ParsePath(path); err != nil {
		return nil, invalid("path must be an EIP-2334 path such as m/12381/3600/0/0/0")
	}
	return e.cache.blsKey(snap, path)
}

type addressParams struct {
	_      struct{} `cbor:",toarray"`
	OID    string
	Scheme string
	Path   string
	HRP    string
}

// hdwalletGetAddress(oid, scheme, path, hrp) → Address. Public keys are
// the creator app's to read; no credential is needed. The answer carries
// a statement of what it is (wallet, scheme, path, hrp, address, public
// key) signed by the receipt key, so that a user's device can tell the
// wallet's own address from one a server put in its place.
func (e *Enclave) hdwalletGetAddress(ctx context.Context, peer wire.Peer, req wire.Request) (any, error) {
	var p addressParams
	if err := wire.DecodeParams(req.Params, &p); err != nil {
		return nil, invalid("want [oid text, scheme text, path text, hrp text]")
	}
	if err := validOID(p.OID); err != nil {
		return nil, err
	}
	snap, err := walletStore{e}.cached(ctx, p.OID)
	if err != nil {
		return nil, err
	}
	defer snap.release()
	if !snap.creator.Equal(peer.Key) {
		return nil, errNotYours
	}
	out, err := e.address(snap, p)
	if err != nil {
		return nil, err
	}
	out.Statement, out.Signature, err = e.signer.address(&api.AddressStatement{
		OID: p.OID, Instance: snap.instance[:], Scheme: p.Scheme, Path: p.Path, HRP: p.HRP, Address: out.Address, PublicKey: out.PublicKey,
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// address computes the address and public key p asks for.
func (e *Enclave) address(snap *snapshot, p addressParams) (api.Address, error) {
	switch p.Scheme {
	case api.AddrBLS:
		sk, err := e.blsKey(snap, p.Path)
		if err != nil {
			return api.Address{}, err
		}
		defer sk.Wipe()
		pk, err := sk.PublicKey()
		if err != nil {
			return api.Address{}, err
		}
		h := hex.EncodeToString(pk[:])
		return api.Address{Address: h, PublicKey: h}, nil
	case api.AddrSolana:
		n, err := e.node(snap, hd.Ed25519, p.Path)
		if err != nil {
			return api.Address{}, err
		}
		defer n.Wipe()
		a, err := sol.AddressFromPublicKey(n.PublicKey())
		if err != nil {
			return api.Address{}, err
		}
		return api.Address{Address: a.String(), PublicKey: hex.EncodeToString(n.PublicKey())}, nil
	case api.AddrP256:
		n, err := e.node(snap, hd.NIST256p1, p.Path)
		if err != nil {
			return api.Address{}, err
		}
		defer n.Wipe()
		k, err := n.P256PrivateKey()
		if err != nil {
			return api.Address{}, err
		}
		spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return api.Address{}, err
		}
		return api.Address{Address: hex.EncodeToString(spki), PublicKey: hex.EncodeToString(n.PublicKey())}, nil
	case api.AddrEth, api.AddrP2WPKH, api.AddrP2TR, api.AddrCosmos, api.AddrSecp256:
	default:
		return api.Address{}, invalid("unknown address scheme")
	}
	n, err := e.node(snap, hd.Secp256k1, p.Path)
	if err != nil {
		return api.Address{}, err
	}
	defer n.Wipe()
	pubBytes := n.PublicKey()
	pub, err := secp256k1.ParsePubKey(pubBytes)
	if err != nil {
		return api.Address{}, err
	}
	out := api.Address{PublicKey: hex.EncodeToString(pubBytes)}
	switch p.Scheme {
	case api.AddrSecp256:
		out.Address = out.PublicKey
	case api.AddrEth:
		out.Address = eth.AddressFromPublicKey(pub).String()
	case api.AddrCosmos:
		a, err := cosmos.AddressFromPublicKey(pub, p.HRP)
		if err != nil {
			return api.Address{}, invalid("hrp: " + err.Error())
		}
		out.Address = a.String()
	case api.AddrP2WPKH, api.AddrP2TR:
		hrp := p.HRP
		if hrp == "" {
			hrp = "bc"
		}
		net, err := btc.NetworkFromHRP(hrp)
		if err != nil {
			return api.Address{}, invalid("hrp must be bc, tb or bcrt")
		}
		var a btc.Address
		if p.Scheme == api.AddrP2WPKH {
			a, err = btc.P2WPKHAddress(pub, net)
		} else {
			a, err = btc.P2TRAddress(pub, nil, net)
		}
		if err != nil {
			return api.Address{}, err
		}
		out.Address = a.String()
	}
	return out, nil
}
