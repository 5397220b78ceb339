// Package wireclient is the client's end of the Secretd wire protocol:
// the initiator of the handshake, and the RPC requests a client sends and
// the responses it reads. The enclave (the responder, package wire) does
// not link it.
package wireclient

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/flynn/noise"
	"github.com/fxamacker/cbor/v2"

	"github.com/niomon/niomon/internal/wire"
)

// Client runs the initiator side of the handshake on conn and returns the
// session. A refusal is returned as *wire.Refusal.
func Client(conn io.ReadWriter, server wire.PublicKey, key wire.PrivateKey, hello wire.ClientHello) (*wire.Session, error) {
	cfg := wire.NoiseConfig(true, key, &server)
	hs, err := noise.NewHandshakeState(cfg)
	if err != nil {
		return nil, err
	}
	payload, err := wire.Marshal(hello)
	if err != nil {
		return nil, err
	}
	out, err := wire.AppendFrame(nil, []byte(wire.Magic))
	if err != nil {
		return nil, err
	}
	msg1, _, _, err := hs.WriteMessage(nil, payload)
	if err != nil {
		return nil, err
	}
	if out, err = wire.AppendFrame(out, msg1); err != nil {
		return nil, err
	}
	if _, err := conn.Write(out); err != nil {
		return nil, err
	}
	fr := wire.NewFrameReader(conn)
	neg, err := fr.Next()
	if err != nil {
		return nil, fmt.Errorf("wire: reading negotiation reply: %w", err)
	}
	if len(neg) > 0 {
		return nil, &wire.Refusal{Reason: printable(neg)}
	}
	msg2, err := fr.Next()
	if err != nil {
		return nil, fmt.Errorf("wire: reading handshake message 2: %w", err)
	}
	if _, send, recv, err := hs.ReadMessage(nil, msg2); err != nil {
		return nil, errors.New("wire: handshake message 2 did not authenticate")
	} else {
		return wire.NewSession(conn, fr, send, recv), nil
	}
}

// EncodeRequest encodes a request envelope.
func EncodeRequest(msgid uint64, method string, params []any) ([]byte, error) {
	if params == nil {
		params = []any{}
	}
	return wire.Marshal([]any{wire.TypeRequest, msgid, method, params})
}

// Response is a decoded RPC response.
type Response struct {
	MsgID  uint64
	Error  *string
	Result cbor.RawMessage
}

// DecodeResponse decodes one response envelope.
func DecodeResponse(item []byte) (Response, error) {
	var r Response
	var env []cbor.RawMessage
	if err := wire.Unmarshal(item, &env); err != nil || len(env) != 4 {
		return r, fmt.Errorf("%w: response is not a 4-element array", wire.ErrMalformed)
	}
	var typ uint64
	if err := wire.Unmarshal(env[0], &typ); err != nil || typ != wire.TypeResponse {
		return r, fmt.Errorf("%w: not a response", wire.ErrMalformed)
	}
	if err := wire.Unmarshal(env[1], &r.MsgID); err != nil {
		return r, fmt.Errorf("%w: bad msgid", wire.ErrMalformed)
	}
	if err := wire.Unmarshal(env[2], &r.Error); err != nil {
		return r, fmt.Errorf("%w: error must be null or text", wire.ErrMalformed)
	}
	r.Result = env[3]
	return r, nil
}

// ParseRPCError splits a response error text into code and message. Text
// from other servers that has no code becomes code "error".
func ParseRPCError(text string) *wire.RPCError {
	code, msg, ok := strings.Cut(text, ": ")
	if !ok || code == "" || strings.ContainsAny(code, " \t\n") {
		return &wire.RPCError{Code: "error", Message: text}
	}
	return &wire.RPCError{Code: code, Message: msg}
}

// printable keeps a peer-supplied reason safe to show: bounded, and
// printable ASCII only.
func printable(b []byte) string {
	const maxReason = 200
	out := make([]byte, 0, min(len(b), maxReason))
	for _, c := range b {
		if len(out) == maxReason {
			break
		}
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out = append(out, c)
	}
	return string(out)
}
