package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/flynn/noise"
	"github.com/fxamacker/cbor/v2"
)

const (
	// Magic is the negotiation frame a client sends first: it names the
	// protocol and is bound into the handshake as the prologue.
	Magic = "SecretD_Handshake_1_0"

	// StatelessMagic names the end-to-end handshake of an end user's own
	// request relayed by an app (system_subrequest).
	StatelessMagic = "SecretD_Handshake_Stateless_1_0"

	// AuthStaticKey is the ClientHello auth method in which the client's
	// Noise static key is its identity, checked against an allow-list.
	AuthStaticKey = "static_key"
)

// psk is the published protocol's pre-shared key: 32 zero bytes at
// placement 2. It adds nothing secret; it is there because the published
// client uses IKpsk2 and the handshake hash must match.
var psk [32]byte

// Prologue is len(magic) as 2 bytes big-endian, then the magic: the bytes
// of the negotiation frame, so that a tampered negotiation fails the
// handshake.
func Prologue(magic string) []byte {
	p := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(magic)), uint16(len(magic)))
	return append(p, magic...)
}

// ClientHello is the payload of handshake message 1:
// [timestamp_ns uint, auth_method text, auth_params].
type ClientHello struct {
	_          struct{} `cbor:",toarray"`
	Timestamp  uint64
	AuthMethod string
	AuthParams cbor.RawMessage
}

// DecodeClientHello decodes a ClientHello strictly.
func DecodeClientHello(b []byte) (ClientHello, error) {
	var h ClientHello
	if len(b) > MaxClientHello {
		return h, errors.New("wire: client hello too large")
	}
	if err := decMode.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("wire: malformed client hello: %w", err)
	}
	if len(h.AuthMethod) == 0 || len(h.AuthMethod) > MaxAuthMethodLen {
		return h, errors.New("wire: malformed client hello: bad auth method")
	}
	return h, nil
}

// Refusal is a handshake the server refused, with the reason it sent in
// the negotiation frame. Reasons are short fixed phrases.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return "secretd refused the connection: " + r.Reason }

// Fixed refusal reasons.
const (
	RefuseProtocol  = "unsupported protocol"
	RefuseHandshake = "handshake failed"
	RefuseHello     = "malformed client hello"
	RefuseAuth      = "client not authorized"
	RefuseNotReady  = "enclave not ready"
	RefuseBusy      = "too many connections"
)

// announced follows RefuseHandshake in a refusal: the identity this
// server holds, so that a client given another can say which one it
// reached. It is the server's public key, not a secret; a client shows it
// as the runner's claim (the runner relays the refusal and could write
// anything there).
const announced = ": the identity here is "

// SplitRefusal splits a refusal reason into its fixed phrase and the
// identity it announces ("" when it announces none, or a malformed one).
func SplitRefusal(reason string) (phrase, identity string) {
	if rest, ok := strings.CutPrefix(reason, RefuseHandshake+announced); ok {
		if _, err := ParsePublicKey(rest); err == nil {
			return RefuseHandshake, rest
		}
	}
	return reason, ""
}

// NoiseConfig is the Secretd handshake: IK, psk at placement 2, with our
// crypto/ecdh DH. The enclave is the responder; clients (package
// wireclient) the initiator. Tests run the cacophony vectors through
// handshakeConfig with the vectors' prologue and PSK.
func NoiseConfig(initiator bool, static PrivateKey, peer *PublicKey) noise.Config {
	return handshakeConfig(initiator, static, peer, Prologue(Magic), psk[:])
}

func handshakeConfig(initiator bool, static PrivateKey, peer *PublicKey, prologue, psk []byte) noise.Config {
	cs, dh := cipherSuite(static.dhKey())
	c := noise.Config{
		CipherSuite:   cs,
		Pattern:       noise.HandshakeIK,
		Initiator:     initiator,
		Prologue:      prologue,
		StaticKeypair: noise.DHKey{Private: dh.staticRaw, Public: static.k.PublicKey().Bytes()},
	}
	if psk != nil {
		c.PresharedKey, c.PresharedKeyPlacement = psk, 2
	}
	if peer != nil {
		c.PeerStatic = peer[:]
	}
	return c
}

// Authorizer decides whether a client that completed message 1 may have a
// session. A *Refusal error's reason is sent to the client; any other
// error is sent as RefuseAuth.
type Authorizer func(peer PublicKey, hello ClientHello) error

// Peer is what the server learnt about its client in the handshake.
type Peer struct {
	Key   PublicKey
	Hello ClientHello
}

// Server runs the responder side of the handshake on conn. On refusal it
// sends the reason and returns a *Refusal; the caller closes conn.
func Server(conn io.ReadWriter, identity PrivateKey, authorize Authorizer) (*Session, Peer, error) {
	var peer Peer
	fr := NewFrameReader(conn)
	neg, err := fr.Next()
	if err != nil {
		return nil, peer, err
	}
	if string(neg) != Magic {
		return nil, peer, refuse(conn, RefuseProtocol)
	}
	msg1, err := fr.Next()
	if err != nil {
		return nil, peer, err
	}
	cfg := NoiseConfig(false, identity, nil)
	hs, err := noise.NewHandshakeState(cfg)
	if err != nil {
		return nil, peer, err
	}
	payload, _, _, err := hs.ReadMessage(nil, msg1)
	if err != nil {
		return nil, peer, refuse(conn, RefuseHandshake+announced+identity.Public().String())
	}
	copy(peer.Key[:], hs.PeerStatic())
	if peer.Hello, err = DecodeClientHello(payload); err != nil {
		return nil, peer, refuse(conn, RefuseHello)
	}
	if err := authorize(peer.Key, peer.Hello); err != nil {
		reason := RefuseAuth
		var r *Refusal
		if errors.As(err, &r) {
			reason = r.Reason
		}
		return nil, peer, refuse(conn, reason)
	}
	msg2, recv, send, err := hs.WriteMessage(nil, nil)
	if err != nil {
		return nil, peer, err
	}
	out, _ := AppendFrame(nil, nil)
	if out, err = AppendFrame(out, msg2); err != nil {
		return nil, peer, err
	}
	if _, err := conn.Write(out); err != nil {
		return nil, peer, err
	}
	return NewSession(conn, fr, send, recv), peer, nil
}

func refuse(w io.Writer, reason string) error {
	_ = WriteFrame(w, []byte(reason))
	return &Refusal{Reason: reason}
}
