package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzFrameReader: any byte stream yields frames that re-encode to a prefix
// of the stream, and never more than MaxFrame bytes each.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte{0, 0})
	f.Add(Prologue(Magic)) // the negotiation frame: a 2-byte length, then the magic
	f.Add([]byte{0xff, 0xff, 1, 2, 3})
	f.Add([]byte{0, 3, 'a', 'b', 'c', 0, 1, 'd'})
	f.Fuzz(func(t *testing.T, stream []byte) {
		fr := NewFrameReader(bytes.NewReader(stream))
		var again []byte
		for {
			b, err := fr.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(b) > MaxFrame {
				t.Fatalf("frame of %d bytes", len(b))
			}
			again, _ = AppendFrame(again, b)
		}
		if !bytes.HasPrefix(stream, again) {
			t.Fatalf("re-encoded frames are not a prefix of the input")
		}
	})
}

// FuzzRPCDecoder: any chunked stream is split into items or rejected with
// an error; every item either decodes as a request that re-encodes to an
// equivalent request, or is refused with a RequestError.
func FuzzRPCDecoder(f *testing.F) {
	req, _ := encodeRequest(7, "hdwallet_get_extended_public_key", []any{"oid", "m/44'/60'/0'/0/0"})
	f.Add(req, uint8(3))
	f.Add(mustHex(f, "8400006568656c6c6f8101"), uint8(1))
	f.Add(mustHex(f, "840100f68102"), uint8(0))
	f.Add([]byte{0x9f, 0x9f, 0xff, 0xff}, uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, split uint8) {
		var src chunks
		step := int(split%16) + 1
		for i := 0; i < len(stream); i += step {
			src = append(src, stream[i:min(i+step, len(stream))])
		}
		mr := NewMessageReader(&src)
		for range 64 {
			item, err := mr.Next()
			if err != nil {
				return
			}
			r, err := DecodeRequest(item)
			if err != nil {
				var re *RequestError
				if !errors.As(err, &re) {
					t.Fatalf("DecodeRequest error is %T, want *RequestError", err)
				}
				continue
			}
			var params []any
			if err := DecodeParams(r.Params, &params); err != nil {
				continue
			}
			again, err := encodeRequest(r.MsgID, r.Method, params)
			if err != nil {
				t.Fatalf("re-encoding a decoded request: %v", err)
			}
			r2, err := DecodeRequest(again)
			if err != nil || r2.MsgID != r.MsgID || r2.Method != r.Method {
				t.Fatalf("round trip changed the request: %+v -> %+v (%v)", r, r2, err)
			}
		}
	})
}

// FuzzClientHello: decoding never panics, and an accepted hello re-encodes
// to bytes that decode to the same hello.
func FuzzClientHello(f *testing.F) {
	good, _ := Marshal(ClientHello{Timestamp: 1700000000000000000, AuthMethod: AuthStaticKey})
	f.Add(good)
	f.Add(mustHex(f, "83016161f6"))
	f.Add(mustHex(f, "831b0000000000000001646e756c6cf6"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeClientHello(b)
		if err != nil {
			return
		}
		again, err := Marshal(h)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		h2, err := DecodeClientHello(again)
		if err != nil || h2.Timestamp != h.Timestamp || h2.AuthMethod != h.AuthMethod || !bytes.Equal(h2.AuthParams, h.AuthParams) {
			t.Fatalf("round trip changed the hello: %+v -> %+v (%v)", h, h2, err)
		}
	})
}
