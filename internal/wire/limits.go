package wire

import (
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Named limits on everything this package decodes from a peer. Each bounds
// memory or work an unauthenticated or hostile peer can cause.
const (
	// MaxMessage bounds one CBOR RPC message (request or response) in the
	// decrypted stream. A message may span frames; a partial message that
	// grows past this ends the session.
	MaxMessage = 1 << 20

	// MaxFramesPerMessage bounds how many transport frames one message may
	// span. Every frame of an incomplete message costs a well-formedness
	// check of everything buffered so far; without this bound a peer could
	// send a 1 MiB message one byte per frame and cost the reader 10^12
	// byte reads for 19 MB of traffic. A 1 MiB message needs 17 full
	// frames; both known clients write each message as one write.
	MaxFramesPerMessage = 32

	// MaxPlaintext is the largest payload of one Noise transport message:
	// a frame minus the AES-GCM tag.
	MaxPlaintext = MaxFrame - 16

	// MaxNesting bounds CBOR nesting depth (arrays and maps).
	MaxNesting = 16

	// MaxArrayElements and MaxMapPairs bound the size of any one CBOR
	// container.
	MaxArrayElements = 4096
	MaxMapPairs      = 1024

	// MaxMethodLen bounds an RPC method name.
	MaxMethodLen = 64

	// MaxClientHello bounds the ClientHello payload of handshake message 1.
	MaxClientHello = 4096

	// MaxAuthMethodLen bounds the ClientHello auth method name.
	MaxAuthMethodLen = 64

	// HandshakeTimeout bounds how long a peer may take to finish a handshake.
	HandshakeTimeout = 10 * time.Second
)

// strictOptions decode everything received: no duplicate map keys, no
// indefinite lengths, no tags, valid UTF-8, bounded sizes.
var strictOptions = cbor.DecOptions{
	DupMapKey:        cbor.DupMapKeyEnforcedAPF,
	IndefLength:      cbor.IndefLengthForbidden,
	TagsMd:           cbor.TagsForbidden,
	MaxNestedLevels:  MaxNesting,
	MaxArrayElements: MaxArrayElements,
	MaxMapPairs:      MaxMapPairs,
	UTF8:             cbor.UTF8RejectInvalid,
	IntDec:           cbor.IntDecConvertNone,
}

// decMode is strictOptions, and a map field the struct does not know is an
// error: requests must say exactly what the method takes.
var decMode = mustDecMode(func(o cbor.DecOptions) cbor.DecOptions {
	o.ExtraReturnErrors = cbor.ExtraDecErrorUnknownField
	return o
}(strictOptions))

// resultMode decodes RPC results with strictOptions but lets a map carry
// fields the caller's struct does not know, so that a newer server can add
// result fields without breaking older clients.
var resultMode = mustDecMode(strictOptions)

// encMode is deterministic ("core deterministic encoding", RFC 8949 §4.2.1)
// so that equal values always encode to equal bytes.
var encMode = mustEncMode(cbor.CoreDetEncOptions())

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

func mustEncMode(o cbor.EncOptions) cbor.EncMode {
	m, err := o.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}

// Unmarshal decodes exactly one CBOR item strictly (see decMode).
func Unmarshal(b []byte, v any) error { return decMode.Unmarshal(b, v) }

// UnmarshalResult decodes an RPC result (see resultMode).
func UnmarshalResult(b []byte, v any) error { return resultMode.Unmarshal(b, v) }

// Marshal encodes v deterministically.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }
