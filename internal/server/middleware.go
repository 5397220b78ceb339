package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyAuth
)

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(keyRequestID).(string)
	return id
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// common wraps every request: a request id (echoed in X-Request-Id and
// every log line), security headers, a recover that answers "internal"
// instead of dropping the connection, and an access log line without
// bodies or query strings (a magic-link token travels in one).
func (s *Server) common(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		r = r.WithContext(context.WithValue(r.Context(), keyRequestID, id))
		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if s.hsts {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		// Nothing by default; pages set walletCSP (pages.go).
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		sw := &statusWriter{ResponseWriter: w}
		start := s.now()
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("handler panicked", "request_id", id, "panic", fmt.Sprint(p))
				if sw.status == 0 {
					s.writeError(sw, r, apiErr(http.StatusInternalServerError, CodeInternal, "internal error"))
				}
			}
			s.log.Info("request", "request_id", id, "method", r.Method, "path", r.URL.Path, "status", sw.status, "ms", s.now().Sub(start).Milliseconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// maxBody bounds a JSON request body: a stamped request of up to
// policy.MaxRequest bytes, in base64, with its stamp, fits.
const maxBody = 400 << 10

// errTooLarge answers a body over maxBody.
var errTooLarge = apiErr(http.StatusRequestEntityTooLarge, CodeInvalidRequest, fmt.Sprintf("the request body is over %d KiB", maxBody>>10))

// decodeJSON reads a JSON body strictly: one object, known fields only,
// within maxBody.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return badRequest("want Content-Type: application/json")
	}
	dec := json.NewDecoder(r.Body) // bounded by http.MaxBytesReader in serve
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge
		}
		return badRequest("malformed JSON body: " + jsonProblem(err))
	}
	if dec.More() {
		return badRequest("malformed JSON body: more than one value")
	}
	return nil
}

// decodeOptionalJSON is decodeJSON for a body that may be empty (then v
// is left as it is).
func decodeOptionalJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge
		}
		return badRequest("unreadable body")
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	r.Body = io.NopCloser(strings.NewReader(string(b)))
	return decodeJSON(r, v)
}

// jsonProblem keeps decoder errors to what they say about the shape, not
// the values (a value may be a code or a token).
func jsonProblem(err error) string {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		return fmt.Sprintf("field %q has the wrong type", ute.Field)
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return err.Error()[len("json: "):]
	case errors.Is(err, io.EOF):
		return "empty body"
	}
	return "unreadable"
}

// clientIP is the address of the client: the TCP peer, or, when the peer
// is one of Config.TrustedProxies, the right-most X-Forwarded-For entry
// that is not a trusted proxy. Entries left of it were written by the
// client and are never believed. A malformed entry ends the walk at the
// last trusted hop.
func (s *Server) clientIP(r *http.Request) string {
	peer, ok := parseHop(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !s.trustedProxy(peer) {
		return peer.String()
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(strings.TrimSpace(hops[i]))
		if !ok {
			break
		}
		peer = a
		if !s.trustedProxy(a) {
			break
		}
	}
	return peer.String()
}

// limitIP is the key of the client's per-IP limits: its address, or for
// IPv6 its /64, since one subscriber usually holds a whole /64 and could
// otherwise take a fresh address for every attempt.
func (s *Server) limitIP(r *http.Request) string {
	ip := s.clientIP(r)
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() {
		return ip
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// parseHop parses an address as proxies write it: 192.0.2.1, 2001:db8::1,
// [2001:db8::1], or with a port ([2001:db8::1]:443).
func parseHop(s string) (netip.Addr, bool) {
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

func (s *Server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseProxies reads Config.TrustedProxies: CIDR prefixes or single
// addresses.
func parseProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range list {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if p, err := netip.ParsePrefix(v); err == nil {
			// Peers are compared unmapped: ::ffff:10.0.0.0/104 is 10.0.0.0/8.
			if p.Addr().Is4In6() {
				if p.Bits() < 96 {
					return nil, &SettingError{"trusted_proxies", fmt.Sprintf("%q: an IPv4-mapped prefix needs at least 96 bits; write the IPv4 prefix", v)}
				}
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			if p.Bits() == 0 {
				return nil, &SettingError{"trusted_proxies", fmt.Sprintf("%q trusts every client to name its own address; list your proxies' addresses", v)}
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, &SettingError{"trusted_proxies", fmt.Sprintf("%q is not an IP address or CIDR prefix", v)}
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
