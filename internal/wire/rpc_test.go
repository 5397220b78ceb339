package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// chunks is a ChunkReader over fixed chunks.
type chunks [][]byte

func (c *chunks) ReadChunk() ([]byte, error) {
	if len(*c) == 0 {
		return nil, io.EOF
	}
	b := (*c)[0]
	*c = (*c)[1:]
	return b, nil
}

func TestDecodeRequestAcceptsPublishedClientEncoding(t *testing.T) {
	// niomon/secretd-client-go cbor/codec_test.go TestWriteRequest: method
	// "hello", seq 0, params [1].
	item := mustHex(t, "8400006568656c6c6f8101")
	r, err := DecodeRequest(item)
	if err != nil {
		t.Fatal(err)
	}
	if r.MsgID != 0 || r.Method != "hello" || hex.EncodeToString(r.Params) != "8101" {
		t.Fatalf("got %+v, want msgid 0, method hello, params 8101", r)
	}
	var p []uint64
	if err := DecodeParams(r.Params, &p); err != nil || len(p) != 1 || p[0] != 1 {
		t.Fatalf("params: got %v (%v), want [1]", p, err)
	}
}

func TestEncodeResponseMatchesPublishedClientDecoding(t *testing.T) {
	// cbor/codec_test.go TestReadResponse and TestReadErrorResponse.
	ok, _ := EncodeResponse(0, nil, []uint{2})
	if got := hex.EncodeToString(ok); got != "840100f68102" {
		t.Fatalf("success response: got %s, want 840100f68102", got)
	}
	msg := "error"
	bad, _ := EncodeResponse(0, &msg, "ignored")
	if got := hex.EncodeToString(bad); got != "84010065"+hex.EncodeToString([]byte("error"))+"f6" {
		t.Fatalf("error response: got %s, want 840100656572726f72f6", got)
	}
}

func TestDecodeRequestRejects(t *testing.T) {
	tests := []struct {
		name   string
		item   string
		hasID  bool
		reason string
	}{
		{"a map is not an envelope", "a0", false, "not an array"},
		{"three elements are too few", "83000061" + "61", false, "want 4 elements"},
		{"a response is not a request", "8401006161" + "80", false, "not a request"},
		{"a negative msgid is bad", "840020" + "6161" + "80", false, "bad msgid"},
		{"a text msgid is bad", "84006161" + "6161" + "80", false, "bad msgid"},
		{"an empty method is bad", "84000760" + "80", true, "bad method name"},
		{"params that are a map are bad", "8400076161" + "a0", true, "params must be an array"},
		{"params that are null are bad", "8400076161" + "f6", true, "params must be an array"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRequest(mustHex(t, tc.item))
			var re *RequestError
			if !errors.As(err, &re) || re.Reason != tc.reason || re.HasID != tc.hasID {
				t.Fatalf("got %v, want reason %q with hasID=%v", err, tc.reason, tc.hasID)
			}
		})
	}
}

func TestMessageReaderSplitsAndJoinsChunks(t *testing.T) {
	a, _ := encodeRequest(1, "m", []any{"x"})
	b, _ := encodeRequest(2, "n", []any{strings.Repeat("y", 300)})
	stream := append(append([]byte{}, a...), b...)
	tests := []struct {
		name   string
		chunks chunks
	}{
		{"one chunk holds two messages", chunks{stream}},
		{"one message per chunk", chunks{a, b}},
		{"in 32 pieces each", func() chunks {
			var c chunks
			for _, msg := range [][]byte{a, b} {
				step := (len(msg) + 31) / 32
				for i := 0; i < len(msg); i += step {
					c = append(c, msg[i:min(i+step, len(msg))])
				}
			}
			return c
		}()},
		{"split across the boundary", chunks{stream[:len(a)+3], stream[len(a)+3:]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.chunks
			mr := NewMessageReader(&src)
			for i, want := range [][]byte{a, b} {
				got, err := mr.Next()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("message %d: got %x (%v), want %x", i, got, err, want)
				}
			}
			if _, err := mr.Next(); err != io.EOF {
				t.Fatalf("after the last message: got %v, want io.EOF", err)
			}
		})
	}
}

func TestMessageReaderRejects(t *testing.T) {
	big := make([]byte, 0, MaxMessage+16)
	big = append(big, 0x5a, 0x00, 0x20, 0x00, 0x00) // byte string of 2 MiB
	big = append(big, make([]byte, MaxMessage)...)
	deep := bytes.Repeat([]byte{0x81}, MaxNesting+1)
	deep = append(deep, 0x00)
	tests := []struct {
		name string
		in   chunks
		want error
	}{
		{"a partial message past the limit", chunks{big[:MaxFrame], big[MaxFrame:]}, ErrMessageTooLarge},
		{"nesting past the limit", chunks{deep}, ErrMalformed},
		{"an indefinite-length array", chunks{mustHex(t, "9f00ff")}, ErrMalformed},
		{"a tag", chunks{mustHex(t, "c11a514b67b0")}, ErrMalformed},
		{"a break byte", chunks{{0xff}}, ErrMalformed},
		{"a map with a duplicate key", chunks{mustHex(t, "a2616101616102")}, nil},
		{"a stream that stops mid-message", chunks{mustHex(t, "8400")}, io.ErrUnexpectedEOF},
		{"a message in 33 frames", func() chunks {
			msg, _ := encodeRequest(1, "m", []any{strings.Repeat("z", 100)})
			var c chunks
			for i := range 33 {
				c = append(c, msg[i:i+1])
			}
			return append(c, msg[33:])
		}(), ErrFragmented},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.in
			_, err := NewMessageReader(&src).Next()
			if tc.want == nil {
				// Duplicate keys are well-formed CBOR; the strict decoder
				// rejects them when the item is decoded.
				var m map[string]int
				if err != nil || Unmarshal(mustHex(t, "a2616101616102"), &m) == nil {
					t.Fatalf("got %v, want a well-formed item that fails strict decoding", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecodeClientHello(t *testing.T) {
	good, _ := cbor.Marshal([]any{uint64(1700000000000000000), "static_key", nil})
	tests := []struct {
		name    string
		in      []byte
		wantErr bool
	}{
		{"static_key with null params", good, false},
		{"two elements", mustHex(t, "82016161"), true},
		{"four elements", mustHex(t, "8401616161f600"), true},
		{"a negative timestamp", mustHex(t, "83206161f6"), true},
		{"an empty method", mustHex(t, "830160f6"), true},
		{"a byte-string method", mustHex(t, "830141aaf6"), true},
		{"oversized", append([]byte{0x83, 0x01, 0x61, 0x61, 0x5a, 0, 0, 0x10, 0}, make([]byte, 4096)...), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := DecodeClientHello(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("got %+v, %v; want error=%v", h, err, tc.wantErr)
			}
		})
	}
}

// encodeRequest is a request envelope as a client encodes it
// (wireclient.EncodeRequest; this package cannot import it).
func encodeRequest(msgid uint64, method string, params []any) ([]byte, error) {
	return Marshal([]any{TypeRequest, msgid, method, params})
}
