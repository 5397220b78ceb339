package wireclient_test

import (
	"errors"
	"testing"

	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/internal/wireclient"
)

func TestParseRPCError(t *testing.T) {
	tests := []struct{ in, code, msg string }{
		{"not_found: wallet not found", "not_found", "wallet not found"},
		{"something broke", "error", "something broke"},
		{"two words: x", "error", "two words: x"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			e := wireclient.ParseRPCError(tc.in)
			if e.Code != tc.code || e.Message != tc.msg {
				t.Fatalf("got %q/%q, want %q/%q", e.Code, e.Message, tc.code, tc.msg)
			}
		})
	}
}

// FuzzDecodeResponse: any bytes from a server decode to a response or an
// error, never a panic; a response re-encodes to one that decodes the same.
func FuzzDecodeResponse(f *testing.F) {
	ok, _ := wire.EncodeResponse(7, nil, map[string]any{"a": 1})
	text := "not_found: wallet not found"
	failed, _ := wire.EncodeResponse(8, &text, nil)
	f.Add(ok)
	f.Add(failed)
	f.Add([]byte{0x84, 0x01, 0x00, 0xf6})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := wireclient.DecodeResponse(b)
		if err != nil {
			if !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("an error that is not ErrMalformed: %v", err)
			}
			return
		}
		again, err := wire.EncodeResponse(r.MsgID, r.Error, r.Result)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		r2, err := wireclient.DecodeResponse(again)
		if err != nil || r2.MsgID != r.MsgID || (r2.Error == nil) != (r.Error == nil) || (r.Error != nil && *r.Error != *r2.Error) {
			t.Fatalf("round trip changed the response: %+v -> %+v (%v)", r, r2, err)
		}
		if r.Error != nil {
			_ = wireclient.ParseRPCError(*r.Error)
		}
	})
}
