package wire

import (
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// msgpack-RPC over CBOR, as the published client speaks it:
//
//	request  [0, msgid uint, method text, params array]
//	response [1, msgid uint, error (null or text), result]
const (
	TypeRequest  = 0
	TypeResponse = 1
)

// ErrMessageTooLarge reports a message that grew past MaxMessage.
var ErrMessageTooLarge = errors.New("wire: RPC message too large")

// ErrFragmented reports a message spread over more than
// MaxFramesPerMessage frames.
var ErrFragmented = errors.New("wire: RPC message spans too many frames")

// ErrMalformed reports bytes that are not a well-formed RPC message.
var ErrMalformed = errors.New("wire: malformed RPC message")

// ChunkReader yields successive plaintext chunks of a stream.
type ChunkReader interface {
	ReadChunk() ([]byte, error)
}

// MessageReader splits a decrypted stream into CBOR data items. A message
// may span several chunks and a chunk may hold several messages: the
// published client writes its encoder's buffer whenever it fills.
type MessageReader struct {
	src    ChunkReader
	buf    []byte
	off    int
	chunks int // chunks appended since the last complete message
}

// NewMessageReader reads messages from src.
func NewMessageReader(src ChunkReader) *MessageReader { return &MessageReader{src: src} }

// Next returns the next complete CBOR data item, valid until the next
// call. It returns io.EOF at a clean end of stream.
func (m *MessageReader) Next() ([]byte, error) {
	for {
		if m.off < len(m.buf) {
			item, err := firstItem(m.buf[m.off:])
			switch {
			case err == nil:
				m.off += len(item)
				m.chunks = 0
				return item, nil
			case !errors.Is(err, io.ErrUnexpectedEOF):
				return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
			case len(m.buf)-m.off >= MaxMessage:
				return nil, ErrMessageTooLarge
			case m.chunks >= MaxFramesPerMessage:
				return nil, ErrFragmented
			}
		}
		chunk, err := m.src.ReadChunk()
		if err != nil {
			if errors.Is(err, io.EOF) && m.off < len(m.buf) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		// Compact before appending so the buffer holds at most one
		// partial message plus one chunk.
		n := copy(m.buf, m.buf[m.off:])
		m.buf, m.off = append(m.buf[:n], chunk...), 0
		m.chunks++
	}
}

// Pending reports whether bytes of a further message are already read and
// waiting: more of the stream in this reader or in the source's buffer.
func (m *MessageReader) Pending() bool {
	if m.off < len(m.buf) {
		return true
	}
	b, ok := m.src.(interface{ Buffered() int })
	return ok && b.Buffered() > 0
}

// firstItem returns the leading well-formed CBOR item of b, checked
// against the strict limits, without decoding it into Go values.
func firstItem(b []byte) ([]byte, error) {
	var skip skipper
	rest, err := decMode.UnmarshalFirst(b, &skip)
	if err != nil {
		return nil, err
	}
	return b[:len(b)-len(rest)], nil
}

// skipper accepts any well-formed item without copying it.
type skipper struct{}

func (*skipper) UnmarshalCBOR([]byte) error { return nil }

// Request is a decoded RPC request.
type Request struct {
	MsgID  uint64
	Method string
	Params cbor.RawMessage // a CBOR array
}

// RequestError is a request that could not be decoded. When HasID is set
// the server can still answer it with an error.
type RequestError struct {
	MsgID  uint64
	HasID  bool
	Reason string
}

func (e *RequestError) Error() string { return "wire: bad request: " + e.Reason }

// DecodeRequest decodes one request envelope. Params are checked to be an
// array but not decoded: each method decodes its own with DecodeParams.
func DecodeRequest(item []byte) (Request, error) {
	var r Request
	var env []cbor.RawMessage
	if err := decMode.Unmarshal(item, &env); err != nil {
		return r, &RequestError{Reason: "not an array"}
	}
	if len(env) != 4 {
		return r, &RequestError{Reason: "want 4 elements"}
	}
	var typ uint64
	if err := decMode.Unmarshal(env[0], &typ); err != nil || typ != TypeRequest {
		return r, &RequestError{Reason: "not a request"}
	}
	if err := decMode.Unmarshal(env[1], &r.MsgID); err != nil {
		return r, &RequestError{Reason: "bad msgid"}
	}
	if err := decMode.Unmarshal(env[2], &r.Method); err != nil || r.Method == "" || len(r.Method) > MaxMethodLen {
		return r, &RequestError{MsgID: r.MsgID, HasID: true, Reason: "bad method name"}
	}
	if majorType(env[3]) != 4 {
		return r, &RequestError{MsgID: r.MsgID, HasID: true, Reason: "params must be an array"}
	}
	r.Params = env[3]
	return r, nil
}

// DecodeParams decodes a params array strictly into v, normally a struct
// tagged `cbor:",toarray"` so that arity and types are both checked.
func DecodeParams(params cbor.RawMessage, v any) error {
	return decMode.Unmarshal(params, v)
}

func majorType(b []byte) byte {
	if len(b) == 0 {
		return 0xff
	}
	return b[0] >> 5
}

type responseEnv struct {
	_      struct{} `cbor:",toarray"`
	Type   uint8
	MsgID  uint64
	Error  *string
	Result any
}

// EncodeResponse encodes a response envelope. errText nil means success.
func EncodeResponse(msgid uint64, errText *string, result any) ([]byte, error) {
	if errText != nil {
		result = nil
	}
	return encMode.Marshal(responseEnv{Type: TypeResponse, MsgID: msgid, Error: errText, Result: result})
}

// RPCError is the error text of a response, "code: message". Codes are
// stable identifiers a program may match; messages are fixed phrases.
type RPCError struct {
	Code    string
	Message string
}

func (e *RPCError) Error() string { return e.Code + ": " + e.Message }

// Stable RPC error codes.
const (
	CodeUnknownMethod = "unknown_method"
	CodeInvalidParams = "invalid_params"
	CodeNotFound      = "not_found"
	CodeExists        = "exists"
	CodeUnauthorized  = "unauthorized"
	CodeUnavailable   = "unavailable"
	CodeInternal      = "internal"
	CodeBadRequest    = "bad_request"
	CodeConflict      = "conflict"
)
