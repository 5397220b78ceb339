package secretd

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
)

// A wallet is answered for as an instance: a random 16-byte id the enclave
// fixes when it makes the wallet and puts in every receipt, address
// statement, signature answer and export. The oid is only a name, and
// whoever runs the store decides what lives under it; the instance says
// which wallet it is. The client pins each wallet's instance (learned
// when it creates the wallet, or on first sight), with the highest policy
// version it has seen, and refuses any answer about another instance or
// an older version.
//
// Pins live in the Client's memory. An app that keeps wallets across
// restarts stores WalletPin's answer with its user and gives it back with
// PinWallet.

// ErrOtherWallet is returned when an answer is about another wallet
// instance at the oid than the one pinned: the store was edited.
var ErrOtherWallet = errors.New("secretd: the answer is about another wallet than the one pinned for this oid")

// ErrRolledBack is returned when a receipt names an older policy version
// than one this client has seen: the store was rolled back.
var ErrRolledBack = errors.New("secretd: the receipt names an older policy version than one already seen")

// Pin is what a client remembers of a wallet.
type Pin struct {
	Instance []byte // 16 bytes
	Version  uint64 // the highest policy version seen
}

type pins struct {
	mu sync.Mutex
	m  map[string]Pin
}

// check compares instance (and version, when not 0) with oid's pin, and
// pins them when oid has none or the version is newer.
func (p *pins) check(oid string, instance []byte, version uint64) error {
	if len(instance) != 16 {
		return fmt.Errorf("%w: no wallet instance in the answer", ErrOtherWallet)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = make(map[string]Pin)
	}
	have, ok := p.m[oid]
	switch {
	case !ok:
		p.m[oid] = Pin{Instance: bytes.Clone(instance), Version: version}
		return nil
	case !bytes.Equal(have.Instance, instance):
		return ErrOtherWallet
	case version != 0 && version < have.Version:
		return ErrRolledBack
	case version > have.Version:
		have.Version = version
		p.m[oid] = have
	}
	return nil
}

// set replaces oid's pin (a wallet just made).
func (p *pins) set(oid string, instance []byte, version uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = make(map[string]Pin)
	}
	p.m[oid] = Pin{Instance: bytes.Clone(instance), Version: version}
}

func (p *pins) get(oid string) (Pin, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pin, ok := p.m[oid]
	return Pin{Instance: bytes.Clone(pin.Instance), Version: pin.Version}, ok
}

// PinWallet tells the client which wallet instance oid is, and the
// highest policy version seen of it (as WalletPin gave them before).
// Answers about another instance, or older receipts, are refused from
// then on.
func (c *Client) PinWallet(oid string, pin Pin) error {
	if len(pin.Instance) != 16 {
		return errors.New("secretd: a wallet instance is 16 bytes")
	}
	c.pins.set(oid, pin.Instance, pin.Version)
	return nil
}

// WalletPin returns what the client has pinned for oid.
func (c *Client) WalletPin(oid string) (Pin, bool) { return c.pins.get(oid) }
