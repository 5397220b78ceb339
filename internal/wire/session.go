package wire

import (
	"errors"
	"io"
	"sync"

	"github.com/flynn/noise"
)

// ErrDecrypt reports a transport frame that did not authenticate. The
// session is unusable afterwards.
var ErrDecrypt = errors.New("wire: transport message did not authenticate")

// Session is an established Noise transport over a framed byte stream.
// Write is safe for concurrent use; reads must come from one goroutine.
type Session struct {
	conn io.Writer
	fr   *FrameReader

	wmu  sync.Mutex
	send *noise.CipherState
	wbuf []byte

	recv *noise.CipherState
	rbuf []byte
}

// NewSession is the transport after a completed handshake: send and recv
// are the handshake's cipher states, fr reads the connection's frames.
func NewSession(conn io.Writer, fr *FrameReader, send, recv *noise.CipherState) *Session {
	return &Session{conn: conn, fr: fr, send: send, recv: recv}
}

// Write encrypts p as one or more transport messages (at most MaxPlaintext
// bytes each) and writes them with a single Write on the connection.
func (s *Session) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	buf := s.wbuf[:0]
	for rest := p; len(rest) > 0; {
		chunk := rest[:min(len(rest), MaxPlaintext)]
		rest = rest[len(chunk):]
		at := len(buf)
		buf = append(buf, 0, 0)
		var err error
		if buf, err = s.send.Encrypt(buf, nil, chunk); err != nil {
			return 0, err
		}
		n := len(buf) - at - 2
		buf[at], buf[at+1] = byte(n>>8), byte(n)
	}
	_, err := s.conn.Write(buf)
	if cap(buf) <= 4*MaxFrame {
		s.wbuf = buf[:0]
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Buffered reports how many received bytes wait to be read.
func (s *Session) Buffered() int { return s.fr.Buffered() }

// ReadChunk returns the plaintext of the next transport message. The slice
// is valid until the next call. Message boundaries carry no meaning: the
// plaintexts form one stream (see MessageReader).
func (s *Session) ReadChunk() ([]byte, error) {
	f, err := s.fr.Next()
	if err != nil {
		return nil, err
	}
	out, err := s.recv.Decrypt(s.rbuf[:0], nil, f)
	if err != nil {
		return nil, ErrDecrypt
	}
	s.rbuf = out
	return out, nil
}
