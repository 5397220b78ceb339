package enclave

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/niomon/niomon/internal/attest"
	"github.com/niomon/niomon/internal/seal"
	"github.com/niomon/niomon/internal/wire"
)

// Replicas. A new enclave joins a running cluster by getting the master key
// from one of its enclaves:
//
//  1. The joiner makes an ephemeral X25519 HPKE key and an attestation
//     document whose public key is that key and whose user data is
//     joinTag. Its runner takes the document to a running enclave
//     (system_join).
//  2. The running enclave checks the document against its peer policy (the
//     same measurements as its own, fresh), seals the master key to the
//     joiner's key, and answers with the ciphertext and its own document:
//     public key = the cluster identity, user data = SHA-256(ciphertext ‖
//     joiner's key), binding the answer to this one request.
//  3. The joiner checks that document against the same policy, opens the
//     master key, and checks it derives the identity the document names.
//
// Both ends check each other's attestation; the runners in between carry
// ciphertext and documents only.

const joinTag = "niomon/secretd/v1/join"

func joinInfo(identity []byte) []byte { return append([]byte(joinTag+"\x00"), identity...) }

var joinKEM = hpke.DHKEM(ecdh.X25519())

// JoinReply is the result of system_join.
type joinReply struct {
	Document   []byte `cbor:"document"`
	Ciphertext []byte `cbor:"ciphertext"`
}

// verifyPeer checks another enclave's attestation document against the
// peer policy: the same roots, PCRs and debug rule as this enclave's own
// measurement, and fresh.
func (e *Enclave) verifyPeer(doc, publicKey []byte) (*attest.Document, error) {
	if e.cfg.PeerPolicy.Roots == nil {
		return nil, errors.New("no peer attestation policy")
	}
	p := e.cfg.PeerPolicy
	p.Now = e.cfg.Now
	p.MaxAge = joinMaxAge
	p.PublicKey = publicKey
	return attest.Verify(doc, p)
}

// join gets the master key from a running enclave through the runner.
func (e *Enclave) join(ctx context.Context, link interface {
	Join(context.Context, []byte) ([]byte, error)
}) (*seal.MasterKey, error) {
	k, err := joinKEM.GenerateKey()
	if err != nil {
		return nil, err
	}
	pub := k.PublicKey().Bytes()
	doc, err := e.cfg.Attester.Attest(nil, []byte(joinTag), pub)
	if err != nil {
		return nil, err
	}
	raw, err := link.Join(ctx, doc)
	if err != nil {
		return nil, err
	}
	var r joinReply
	if err := wire.Unmarshal(raw, &r); err != nil {
		return nil, errors.New("malformed join reply")
	}
	d, err := e.verifyPeer(r.Document, nil)
	if err != nil {
		return nil, fmt.Errorf("the running enclave's attestation: %w", err)
	}
	bind := sha256.Sum256(append(append([]byte(nil), r.Ciphertext...), pub...))
	if !bytes.Equal(d.UserData, bind[:]) || len(d.PublicKey) != 32 {
		return nil, errors.New("the running enclave's answer is not bound to this request")
	}
	b, err := hpke.Open(k, hpkeKDF, hpkeAEAD, joinInfo(d.PublicKey), r.Ciphertext)
	if err != nil {
		return nil, errors.New("the master key does not open")
	}
	defer clear(b)
	mk, err := seal.MasterKeyFromBytes(b)
	if err != nil {
		return nil, err
	}
	id, err := identityOf(mk)
	if err != nil || !bytes.Equal(id.Public().Bytes(), d.PublicKey) {
		mk.Wipe()
		return nil, errors.New("the master key does not derive the identity the running enclave attested")
	}
	return mk, nil
}

type joinParams struct {
	_        struct{} `cbor:",toarray"`
	Document []byte
}

// systemJoin([attestation document]) → joinReply: the master key for a new
// enclave of this cluster, sealed to the key in its document.
func (e *Enclave) systemJoin(_ context.Context, peer wire.Peer, req wire.Request) (any, error) {
	var p joinParams
	if err := wire.DecodeParams(req.Params, &p); err != nil {
		return nil, invalid("want [attestation document]")
	}
	d, err := e.verifyPeer(p.Document, nil)
	if err != nil {
		e.log.Warn("join refused", "err", err)
		return nil, &wire.RPCError{Code: wire.CodeUnauthorized, Message: "the joining enclave's attestation does not pass: " + err.Error()}
	}
	if string(d.UserData) != joinTag {
		return nil, &wire.RPCError{Code: wire.CodeUnauthorized, Message: "the document is not a join request"}
	}
	pub, err := joinKEM.NewPublicKey(d.PublicKey)
	if err != nil {
		return nil, invalid("the document's public key is not an X25519 key")
	}
	mb := e.master.Bytes()
	defer clear(mb)
	ct, err := hpke.Seal(pub, hpkeKDF, hpkeAEAD, joinInfo(e.identity.Public().Bytes()), mb)
	if err != nil {
		return nil, err
	}
	bind := sha256.Sum256(append(append([]byte(nil), ct...), d.PublicKey...))
	doc, err := e.cfg.Attester.Attest(nil, bind[:], e.identity.Public().Bytes())
	if err != nil {
		return nil, err
	}
	e.log.Info("an enclave joined the cluster", "requested_by", peer.Key.String())
	return joinReply{Document: doc, Ciphertext: ct}, nil
}
