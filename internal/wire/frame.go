// Package wire implements the Secretd protocol v1 as spoken by Niomon's
// published Go client (niomon/secretd-client-go), for both ends:
//
//   - frames: a 2-byte big-endian length, then that many bytes (≤ 65,535);
//   - the handshake: a negotiation frame carrying the magic
//     "SecretD_Handshake_1_0", then Noise_IKpsk2_25519_AESGCM_SHA256 with the
//     prologue len(magic)‖magic and a zero PSK at placement 2, with a CBOR
//     ClientHello as the payload of message 1;
//   - the transport: one Noise transport message per frame, carrying a byte
//     stream of CBOR msgpack-RPC messages.
//
// Every decoder here reads untrusted bytes. Each has a named limit
// (limits.go) and returns an error rather than panicking.
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxFrame is the largest frame body the 2-byte length prefix can carry.
const MaxFrame = 65535

// ErrFrameTooLarge reports a frame body that does not fit the length prefix.
var ErrFrameTooLarge = errors.New("wire: frame larger than 65535 bytes")

// AppendFrame appends b as one frame to dst.
func AppendFrame(dst, b []byte) ([]byte, error) {
	if len(b) > MaxFrame {
		return dst, ErrFrameTooLarge
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(b)))
	return append(dst, b...), nil
}

// WriteFrame writes b as one frame with a single Write call, so that a
// frame is never interleaved with another writer's bytes.
func WriteFrame(w io.Writer, b []byte) error {
	buf, err := AppendFrame(make([]byte, 0, 2+len(b)), b)
	if err != nil {
		return err
	}
	_, err = w.Write(buf)
	return err
}

// FrameReader reads frames from a byte stream. The slice returned by Next is
// valid until the following call.
type FrameReader struct {
	r   *bufio.Reader
	buf []byte
}

// NewFrameReader returns a FrameReader on r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 4096)}
}

// Next returns the next frame body. A stream that ends between frames
// returns io.EOF; one that ends inside a frame returns io.ErrUnexpectedEOF.
func (f *FrameReader) Next() ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if cap(f.buf) < n {
		f.buf = make([]byte, n, max(n, 512))
	}
	f.buf = f.buf[:n]
	if _, err := io.ReadFull(f.r, f.buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("wire: reading frame body: %w", err)
	}
	return f.buf, nil
}

// Buffered reports how many bytes have been read from the stream but not yet
// returned as frames.
func (f *FrameReader) Buffered() int { return f.r.Buffered() }
