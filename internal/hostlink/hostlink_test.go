package hostlink

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestLinkFailsPendingCallsWhenTheRunnerGoes(t *testing.T) {
	a, b := net.Pipe()
	go func() {
		_ = WriteMessage(b, &Message{Type: THello, Hello: &Hello{}})
		_, _ = ReadMessage(b) // the request, never answered
		b.Close()
	}()
	l, _, err := Accept(a)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.Get(ctx, "wallet", "x"); !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
		t.Fatalf("got %v, want ErrUnavailable before the deadline", err)
	}
	if _, err := l.Get(ctx, "wallet", "x"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a call on a dead link: got %v, want ErrUnavailable", err)
	}
}

func TestReadMessageRejectsOversizedAndMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"a length past the limit", []byte{0x7f, 0xff, 0xff, 0xff}},
		{"a truncated body", []byte{0, 0, 0, 5, 0xa1}},
		{"an unknown field", []byte{0, 0, 0, 6, 0xa2, 0x01, 0x01, 0x18, 0x63, 0x00}},
		{"a duplicate key", []byte{0, 0, 0, 5, 0xa2, 0x01, 0x01, 0x01, 0x02}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if m, err := ReadMessage(bytes.NewReader(tc.in)); err == nil {
				t.Fatalf("got %+v, want an error", m)
			}
		})
	}
}

func FuzzReadMessage(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteMessage(&buf, &Message{Type: TResponse, ID: 7, Object: &Object{Kind: "wallet", ID: "a", Version: 1, Blob: []byte{1}}})
	f.Add(buf.Bytes())
	buf.Reset()
	_ = WriteMessage(&buf, &Message{Type: THello, Hello: &Hello{ClientKeys: [][]byte{make([]byte, 32)}, DevSealingKey: make([]byte, 32)}})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ReadMessage(bytes.NewReader(in))
		if err != nil {
			return
		}
		var again bytes.Buffer
		if err := WriteMessage(&again, m); err != nil {
			t.Fatalf("re-encoding a decoded message: %v", err)
		}
		m2, err := ReadMessage(&again)
		if err != nil || m2.Type != m.Type || m2.ID != m.ID || m2.Err != m.Err {
			t.Fatalf("round trip changed the message: %+v -> %+v (%v)", m, m2, err)
		}
	})
}
