package hostserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/store"
)

// StoreBackend serves host-link storage requests from s, mapping its
// errors to the host link's codes. Database errors are logged to log, on
// the runner, and the enclave only hears "internal".
func StoreBackend(s store.Store, log *slog.Logger) Backend { return backend{s: s, log: log} }

type backend struct {
	s   store.Store
	log *slog.Logger
}

func (b backend) err(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return hostlink.ErrNotFound
	case errors.Is(err, store.ErrExists):
		return hostlink.ErrExists
	case errors.Is(err, store.ErrConflict):
		return hostlink.ErrConflict
	case errors.Is(err, store.ErrInvalid):
		return fmt.Errorf("%w: %v", hostlink.ErrInvalid, err)
	}
	b.log.Error("store failed", "op", op, "err", err)
	return err
}

func (b backend) Get(ctx context.Context, kind, id string) (hostlink.Object, error) {
	o, err := b.s.Get(ctx, kind, id)
	if err != nil {
		return hostlink.Object{}, b.err("get", err)
	}
	return hostlink.Object{Kind: o.Kind, ID: o.ID, Version: o.Version, Blob: o.Blob}, nil
}

func (b backend) Create(ctx context.Context, o hostlink.Object) error {
	return b.err("create", b.s.Create(ctx, store.Object{Kind: o.Kind, ID: o.ID, Version: o.Version, Blob: o.Blob}))
}

func (b backend) Update(ctx context.Context, o hostlink.Object, prev uint64) error {
	return b.err("update", b.s.Update(ctx, store.Object{Kind: o.Kind, ID: o.ID, Version: o.Version, Blob: o.Blob}, prev))
}

func (b backend) Batch(ctx context.Context, writes []hostlink.BatchWrite) error {
	ws := make([]store.Write, len(writes))
	for i, w := range writes {
		ws[i] = store.Write{Object: store.Object{Kind: w.Object.Kind, ID: w.Object.ID, Version: w.Object.Version, Blob: w.Object.Blob}, Create: w.Create, Prev: w.Prev}
	}
	return b.err("batch", b.s.Batch(ctx, ws))
}
