package hostlink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Link is the enclave's end of one host link. Its storage calls are safe
// for concurrent use.
type Link struct {
	conn io.ReadWriteCloser
	wmu  sync.Mutex

	mu      sync.Mutex
	pending map[uint64]chan *Message
	next    uint64
	err     error
	done    chan struct{}

	joinReply chan []byte
}

// Accept reads the runner's Hello from a new host connection (after its
// ConnHost byte) and starts the link.
func Accept(conn io.ReadWriteCloser) (*Link, *Hello, error) {
	m, err := ReadMessage(conn)
	if err != nil {
		return nil, nil, err
	}
	if m.Type != THello || m.Hello == nil {
		return nil, nil, errors.New("hostlink: expected hello")
	}
	l := &Link{conn: conn, pending: make(map[uint64]chan *Message), done: make(chan struct{}), joinReply: make(chan []byte, 1)}
	go l.readLoop()
	return l, m.Hello, nil
}

func (l *Link) readLoop() {
	var err error
	// Buffered: a message's length and body arrive in one read.
	r := bufio.NewReaderSize(l.conn, readBuffer)
	for {
		var m *Message
		if m, err = ReadMessage(r); err != nil {
			break
		}
		if m.Type == TJoinReply {
			select {
			case l.joinReply <- m.Blob:
			default:
			}
			continue
		}
		if m.Type != TResponse {
			err = fmt.Errorf("hostlink: unexpected message type %d", m.Type)
			break
		}
		l.mu.Lock()
		ch := l.pending[m.ID]
		delete(l.pending, m.ID)
		l.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
	l.fail(err)
}

func (l *Link) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	l.err = fmt.Errorf("%w: %v", ErrUnavailable, err)
	for id, ch := range l.pending {
		close(ch)
		delete(l.pending, id)
	}
	close(l.done)
	l.conn.Close()
}

// Done is closed when the link has failed.
func (l *Link) Done() <-chan struct{} { return l.done }

// Close ends the link.
func (l *Link) Close() { l.fail(errors.New("closed")) }

func (l *Link) send(m *Message) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return WriteMessage(l.conn, m)
}

// Ready tells the runner the enclave is serving under identity, or that it
// could not start (bootErr).
func (l *Link) Ready(identity []byte, bootErr error) error {
	m := &Message{Type: TReady, Identity: identity}
	if bootErr != nil {
		m.Err = bootErr.Error()
	}
	return l.send(m)
}

// Recovering tells the runner the enclave serves recovery under a
// temporary identity.
func (l *Link) Recovering(identity []byte) error {
	return l.send(&Message{Type: TRecovering, Identity: identity})
}

// Genesis tells the runner the enclave waits for its cluster's genesis
// ceremony under a temporary identity.
func (l *Link) Genesis(identity []byte) error {
	return l.send(&Message{Type: TGenesis, Identity: identity})
}

// Join hands the runner an attestation document to take to a running
// enclave of the cluster and waits for that enclave's answer.
func (l *Link) Join(ctx context.Context, doc []byte) ([]byte, error) {
	if err := l.send(&Message{Type: TJoin, Blob: doc}); err != nil {
		return nil, err
	}
	select {
	case b := <-l.joinReply:
		return b, nil
	case <-l.done:
		return nil, ErrUnavailable
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *Link) call(ctx context.Context, m *Message) (*Message, error) {
	ch := make(chan *Message, 1)
	l.mu.Lock()
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		return nil, err
	}
	l.next++
	m.ID, m.Type = l.next, TRequest
	l.pending[m.ID] = ch
	l.mu.Unlock()

	if err := l.send(m); err != nil {
		l.fail(err)
		return nil, ErrUnavailable
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, ErrUnavailable
		}
		return r, errOf(r.Err)
	case <-ctx.Done():
		l.mu.Lock()
		delete(l.pending, m.ID)
		l.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

// Get loads a sealed object.
func (l *Link) Get(ctx context.Context, kind, id string) (*Object, error) {
	r, err := l.call(ctx, &Message{Op: OpGet, Object: &Object{Kind: kind, ID: id}})
	if err != nil {
		return nil, err
	}
	if r.Object == nil || r.Object.Kind != kind || r.Object.ID != id {
		// The enclave authenticates the blob anyway; this catches a
		// confused runner early.
		return nil, fmt.Errorf("%w: runner answered for another object", ErrUnavailable)
	}
	return r.Object, nil
}

// Create stores a new object; ErrExists if one is there.
func (l *Link) Create(ctx context.Context, o *Object) error {
	if err := ValidObject(o); err != nil {
		return err
	}
	_, err := l.call(ctx, &Message{Op: OpCreate, Object: o})
	return err
}

// Batch applies writes all or none.
func (l *Link) Batch(ctx context.Context, writes []BatchWrite) error {
	if len(writes) == 0 || len(writes) > MaxBatch {
		return fmt.Errorf("%w: a batch holds 1..%d writes", ErrInvalid, MaxBatch)
	}
	for _, w := range writes {
		if err := ValidObject(w.Object); err != nil {
			return err
		}
	}
	_, err := l.call(ctx, &Message{Op: OpBatch, Batch: writes})
	return err
}

// Witness relays a request to the cluster's witness number i (in the
// order the genesis fixed) and returns its reply, which the caller
// authenticates.
func (l *Link) Witness(ctx context.Context, i int, req []byte) ([]byte, error) {
	r, err := l.call(ctx, &Message{Op: OpWitness, Witness: i, Blob: req})
	if err != nil {
		return nil, err
	}
	return r.Blob, nil
}

// Update replaces an object whose stored version is prev.
func (l *Link) Update(ctx context.Context, o *Object, prev uint64) error {
	if err := ValidObject(o); err != nil {
		return err
	}
	_, err := l.call(ctx, &Message{Op: OpUpdate, Object: o, Prev: prev})
	return err
}
