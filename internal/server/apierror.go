package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// APIError is every error the API answers with: one shape, a stable code
// a program can match, and a message for a human. Internals never appear:
// unexpected errors are logged with the request id and answered as
// "internal".
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter time.Duration `json:"-"`
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// Stable error codes.
const (
	CodeInvalidRequest = "invalid_request"
	CodeUnauthorized   = "unauthorized"
	CodeForbidden      = "forbidden"
	CodeNotFound       = "not_found"
	CodeConflict       = "conflict"
	CodeRateLimited    = "rate_limited"
	CodeUnavailable    = "unavailable"
	CodeInternal       = "internal"
	CodeCSRF           = "csrf"
	CodeInvalidCode    = "invalid_code"
	CodeStampRefused   = "stamp_refused"
	CodeWalletMissing  = "wallet_missing"
	CodeMethod         = "method_not_allowed"
)

func apiErr(status int, code, msg string) *APIError {
	return &APIError{Status: status, Code: code, Message: msg}
}

func badRequest(msg string) *APIError { return apiErr(http.StatusBadRequest, CodeInvalidRequest, msg) }

var (
	errUnauthorized = apiErr(http.StatusUnauthorized, CodeUnauthorized, "sign in first")
	errNotFound     = apiErr(http.StatusNotFound, CodeNotFound, "not found")
	errMethod       = apiErr(http.StatusMethodNotAllowed, CodeMethod, "method not allowed; the Allow header lists the methods this path takes")
	errRateLimited  = apiErr(http.StatusTooManyRequests, CodeRateLimited, "too many attempts; try again later")
	errCSRF         = apiErr(http.StatusForbidden, CodeCSRF, "missing or wrong X-CSRF-Token header")
)

// errorBody is the JSON error envelope.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *APIError
	if !errors.As(err, &ae) {
		s.log.Error("request failed", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path, "err", err)
		ae = apiErr(http.StatusInternalServerError, CodeInternal, "internal error")
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ae.RetryAfter+time.Second-1)/time.Second)))
	}
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.RequestID = ae.Code, ae.Message, requestID(r)
	writeJSON(w, ae.Status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
