package hostserve

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"testing"

	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/store"
)

func startLink(t *testing.T) *hostlink.Link {
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
		_ = Serve(ctx, b, &hostlink.Hello{ClientKeys: [][]byte{bytes.Repeat([]byte{1}, 32)}}, StoreBackend(st, slog.New(slog.DiscardHandler)), Events{Ready: func(id []byte, err error) { ready <- id }})
		close(served)
	}()
	link, hello, err := hostlink.Accept(a)
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
	o := &hostlink.Object{Kind: "wallet", ID: "alice", Version: 1, Blob: []byte{0, 1, 2, 255}}
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"get of a missing object", func() error { _, err := l.Get(ctx, "wallet", "alice"); return err }, hostlink.ErrNotFound},
		{"create", func() error { return l.Create(ctx, o) }, nil},
		{"create again", func() error { return l.Create(ctx, o) }, hostlink.ErrExists},
		{"get", func() error {
			got, err := l.Get(ctx, "wallet", "alice")
			if err == nil && (!bytes.Equal(got.Blob, o.Blob) || got.Version != 1) {
				return errors.New("wrong object back")
			}
			return err
		}, nil},
		{"update from a stale version", func() error {
			return l.Update(ctx, &hostlink.Object{Kind: "wallet", ID: "alice", Version: 3, Blob: []byte{9}}, 2)
		}, hostlink.ErrConflict},
		{"update", func() error {
			return l.Update(ctx, &hostlink.Object{Kind: "wallet", ID: "alice", Version: 2, Blob: []byte{9}}, 1)
		}, nil},
		{"an object with version 0 is refused before it is sent", func() error { return l.Create(ctx, &hostlink.Object{Kind: "wallet", ID: "bob", Blob: []byte{1}}) }, hostlink.ErrInvalid},
		{"an oversized blob is refused before it is sent", func() error {
			return l.Create(ctx, &hostlink.Object{Kind: "wallet", ID: "bob", Version: 1, Blob: make([]byte, hostlink.MaxBlob+1)})
		}, hostlink.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
