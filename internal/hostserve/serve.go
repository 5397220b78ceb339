// Package hostserve is the runner's end of the host link (package
// hostlink is the enclave's): it answers the enclave's storage and witness
// requests from the runner's store and network. It is not part of the
// enclave's trusted computing base; the enclave treats every answer as the
// operator's.
package hostserve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/niomon/niomon/internal/hostlink"
)

// readBuffer is the read buffer of the runner's end: a typical message (a
// wallet object, a witness answer) in one read.
const readBuffer = 16 << 10

// Backend is the runner's object store as a host link needs it. Its
// errors must wrap hostlink's ErrNotFound, ErrExists, ErrConflict or
// ErrInvalid where those apply.
type Backend interface {
	Get(ctx context.Context, kind, id string) (hostlink.Object, error)
	Create(ctx context.Context, o hostlink.Object) error
	Update(ctx context.Context, o hostlink.Object, prev uint64) error
	Batch(ctx context.Context, writes []hostlink.BatchWrite) error
}

// maxInFlight bounds the storage requests one link serves at once.
const maxInFlight = 64

// Events are the runner's callbacks for what its enclave reports.
type Events struct {
	// Ready: the enclave serves the cluster identity, or could not boot.
	Ready func(identity []byte, bootErr error)
	// Recovering: the enclave serves recovery under a temporary identity.
	Recovering func(identity []byte)
	// Genesis: the enclave waits for its cluster's genesis ceremony under
	// a temporary identity.
	Genesis func(identity []byte)
	// Join: take the attestation document to a running enclave of the
	// cluster (system_join) and return its answer.
	Join func(ctx context.Context, doc []byte) ([]byte, error)
	// Witness: take a request to witness number i and return its reply.
	Witness func(ctx context.Context, i int, req []byte) ([]byte, error)
}

// Serve runs the runner's end of a host link on conn (after the ConnHost
// byte): it sends hello, passes what the enclave reports to ev, and
// answers storage requests from b until conn fails or ctx ends.
func Serve(ctx context.Context, conn io.ReadWriteCloser, hello *hostlink.Hello, b Backend, ev Events) error {
	var wmu sync.Mutex
	send := func(m *hostlink.Message) error {
		wmu.Lock()
		defer wmu.Unlock()
		return hostlink.WriteMessage(conn, m)
	}
	if err := send(&hostlink.Message{Type: hostlink.THello, Hello: hello}); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	// Storage requests run on up to maxInFlight workers, started as
	// needed and kept: a request handed to a new goroutine would grow
	// its stack through the store's driver each time.
	work := make(chan *hostlink.Message)
	workers := 0
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(work)
	serve := func(m *hostlink.Message) {
		if err := send(handle(ctx, b, ev, m)); err != nil {
			conn.Close()
		}
	}
	r := bufio.NewReaderSize(conn, readBuffer)
	for {
		m, err := hostlink.ReadMessage(r)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		switch m.Type {
		case hostlink.TReady:
			var bootErr error
			if m.Err != "" {
				bootErr = errors.New(m.Err)
			}
			ev.Ready(m.Identity, bootErr)
		case hostlink.TRecovering:
			if ev.Recovering != nil {
				ev.Recovering(m.Identity)
			}
		case hostlink.TGenesis:
			if ev.Genesis != nil {
				ev.Genesis(m.Identity)
			}
		case hostlink.TJoin:
			if ev.Join == nil {
				return errors.New("hostlink: the enclave asked to join, but this runner has no cluster to join")
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				reply, err := ev.Join(ctx, m.Blob)
				if err != nil {
					// The enclave waits for a reply; without one it
					// cannot boot. Close the link so it sees the failure.
					conn.Close()
					return
				}
				if err := send(&hostlink.Message{Type: hostlink.TJoinReply, Blob: reply}); err != nil {
					conn.Close()
				}
			}()
		case hostlink.TRequest:
			select {
			case work <- m: // an idle worker
				continue
			default:
			}
			if workers == maxInFlight {
				work <- m // wait for one
				continue
			}
			workers++
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(m)
				for m := range work {
					serve(m)
				}
			}()
		default:
			return fmt.Errorf("hostlink: unexpected message type %d from the enclave", m.Type)
		}
	}
}

func handle(ctx context.Context, b Backend, ev Events, m *hostlink.Message) *hostlink.Message {
	r := &hostlink.Message{Type: hostlink.TResponse, ID: m.ID}
	var err error
	switch {
	case m.Op == hostlink.OpWitness && ev.Witness != nil:
		r.Blob, err = ev.Witness(ctx, m.Witness, m.Blob)
		if err != nil {
			err = hostlink.ErrUnavailable
		}
	case m.Op == hostlink.OpBatch:
		if len(m.Batch) == 0 || len(m.Batch) > hostlink.MaxBatch {
			err = hostlink.ErrInvalid
			break
		}
		for _, w := range m.Batch {
			if err = hostlink.ValidObject(w.Object); err != nil {
				break
			}
		}
		if err == nil {
			err = b.Batch(ctx, m.Batch)
		}
	case m.Object == nil:
		err = hostlink.ErrInvalid
	case m.Op == hostlink.OpGet:
		var o hostlink.Object
		if o, err = b.Get(ctx, m.Object.Kind, m.Object.ID); err == nil {
			r.Object = &o
		}
	case m.Op == hostlink.OpCreate:
		if err = hostlink.ValidObject(m.Object); err == nil {
			err = b.Create(ctx, *m.Object)
		}
	case m.Op == hostlink.OpUpdate:
		if err = hostlink.ValidObject(m.Object); err == nil {
			err = b.Update(ctx, *m.Object, m.Prev)
		}
	default:
		err = hostlink.ErrInvalid
	}
	if err != nil {
		r.Err = hostlink.CodeOf(err)
	}
	return r
}
