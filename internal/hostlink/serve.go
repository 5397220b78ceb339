package hostlink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Backend is the runner's object store as a host link needs it. Its
// errors must wrap ErrNotFound, ErrExists, ErrConflict or ErrInvalid where
// those apply.
type Backend interface {
	Get(ctx context.Context, kind, id string) (Object, error)
	Create(ctx context.Context, o Object) error
	Update(ctx context.Context, o Object, prev uint64) error
}

// maxInFlight bounds the storage requests one link serves at once.
const maxInFlight = 64

// Serve runs the runner's end of a host link on conn (after the ConnHost
// byte): it sends hello, passes the enclave's Ready to onReady, and
// answers storage requests from b until conn fails or ctx ends.
func Serve(ctx context.Context, conn io.ReadWriteCloser, hello *Hello, b Backend, onReady func(identity []byte, bootErr error)) error {
	var wmu sync.Mutex
	send := func(m *Message) error {
		wmu.Lock()
		defer wmu.Unlock()
		return WriteMessage(conn, m)
	}
	if err := send(&Message{Type: THello, Hello: hello}); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		m, err := ReadMessage(conn)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		switch m.Type {
		case TReady:
			var bootErr error
			if m.Err != "" {
				bootErr = errors.New(m.Err)
			}
			onReady(m.Identity, bootErr)
		case TRequest:
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := send(handle(ctx, b, m)); err != nil {
					conn.Close()
				}
			}()
		default:
			return fmt.Errorf("hostlink: unexpected message type %d from the enclave", m.Type)
		}
	}
}

func handle(ctx context.Context, b Backend, m *Message) *Message {
	r := &Message{Type: TResponse, ID: m.ID}
	var err error
	switch {
	case m.Object == nil:
		err = ErrInvalid
	case m.Op == OpGet:
		var o Object
		if o, err = b.Get(ctx, m.Object.Kind, m.Object.ID); err == nil {
			r.Object = &o
		}
	case m.Op == OpCreate:
		if err = ValidObject(m.Object); err == nil {
			err = b.Create(ctx, *m.Object)
		}
	case m.Op == OpUpdate:
		if err = ValidObject(m.Object); err == nil {
			err = b.Update(ctx, *m.Object, m.Prev)
		}
	default:
		err = ErrInvalid
	}
	if err != nil {
		r.Err = CodeOf(err)
	}
	return r
}
