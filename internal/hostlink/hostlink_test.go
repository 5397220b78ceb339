package hostlink

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/store"
)

// storeBackend adapts a real store to Backend, as the runner does.
type storeBackend struct{ s store.Store }

func mapErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, store.ErrExists):
		return ErrExists
	case errors.Is(err, store.ErrConflict):
		return ErrConflict
	case errors.Is(err, store.ErrInvalid):
		return ErrInvalid
	}
	return err
}

func (b storeBackend) Get(ctx context.Context, kind, id string) (Object, error) {
	o, err := b.s.Get(ctx, kind, id)
	return Object{Kind: o.Kind, ID: o.ID, Version: o.Version, Blob: o.Blob}, mapErr(err)
}

func (b storeBackend) Create(ctx context.Context, o Object) error {
	return mapErr(b.s.Create(ctx, store.Object{Kind: o.Kind, ID: o.ID, Version: o.Version, Blob: o.Blob}))
}

func (b storeBackend) Update(ctx context.Context, o Object, prev uint64) error {
	return mapErr(b.s.Update(ctx, store.Object{Kind: o.Kind, ID: o.ID, Version: o.Version, Blob: o.Blob}, prev))
}

func (b storeBackend) Batch(ctx context.Context, writes []BatchWrite) error {
	ws := make([]store.Write, len(writes))
	for i, w := range writes {
		ws[i] = store.Write{Object: store.Object{Kind: w.Object.Kind, ID: w.Object.ID, Version: w.Object.Version, Blob: w.Object.Blob}, Create: w.Create, Prev: w.Prev}
	}
	return mapErr(b.s.Batch(ctx, ws))
}

func startLink(t *testing.T) *Link {
	t.Helper()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan []byte, 1)
	served := make(chan struct{})
	go func() {
		_ = Serve(ctx, b, &Hello{ClientKeys: [][]byte{bytes.Repeat([]byte{1}, 32)}}, storeBackend{st}, Events{Ready: func(id []byte, err error) { ready <- id }})
		close(served)
	}()
	link, hello, err := Accept(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(hello.ClientKeys) != 1 {
		t.Fatalf("hello: got %d client keys, want 1", len(hello.ClientKeys))
	}
	if err := link.Ready([]byte("identity"), nil); err != nil {
		t.Fatal(err)
	}
	if got := <-ready; string(got) != "identity" {
		t.Fatalf("ready: got %q, want identity", got)
	}
	t.Cleanup(func() { cancel(); link.Close(); <-served })
	return link
}

func TestLinkStorageOperations(t *testing.T) {
	l := startLink(t)
	ctx := context.Background()
	o := &Object{Kind: "wallet", ID: "alice", Version: 1, Blob: []byte{0, 1, 2, 255}}
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"get of a missing object", func() error { _, err := l.Get(ctx, "wallet", "alice"); return err }, ErrNotFound},
		{"create", func() error { return l.Create(ctx, o) }, nil},
		{"create again", func() error { return l.Create(ctx, o) }, ErrExists},
		{"get", func() error {
			got, err := l.Get(ctx, "wallet", "alice")
			if err == nil && (!bytes.Equal(got.Blob, o.Blob) || got.Version != 1) {
				return errors.New("wrong object back")
			}
			return err
		}, nil},
		{"update from a stale version", func() error {
			return l.Update(ctx, &Object{Kind: "wallet", ID: "alice", Version: 3, Blob: []byte{9}}, 2)
		}, ErrConflict},
		{"update", func() error {
			return l.Update(ctx, &Object{Kind: "wallet", ID: "alice", Version: 2, Blob: []byte{9}}, 1)
		}, nil},
		{"an object with version 0 is refused before it is sent", func() error { return l.Create(ctx, &Object{Kind: "wallet", ID: "bob", Blob: []byte{1}}) }, ErrInvalid},
		{"an oversized blob is refused before it is sent", func() error {
			return l.Create(ctx, &Object{Kind: "wallet", ID: "bob", Version: 1, Blob: make([]byte, MaxBlob+1)})
		}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

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
