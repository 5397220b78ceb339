package eth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// readJSON parses one JSON document into map[string]any, []any, string,
// json.Number, bool and nil, enforcing MaxTypedDataDepth,
// MaxTypedDataArrayLen and unique object keys.
//
// Why not json.Unmarshal into any: it silently keeps the last of duplicate
// keys (so what a reviewer sees and what is hashed can differ), has no depth
// limit, and turns numbers into float64. Building each object here makes the
// duplicate check a map lookup, so it costs nothing extra.
func readJSON(data []byte) (any, error) {
	r := jsonReader{dec: json.NewDecoder(bytes.NewReader(data))}
	r.dec.UseNumber()
	v, err := r.value()
	if err != nil {
		return nil, err
	}
	if _, err := r.dec.Token(); err != io.EOF {
		return nil, invalidTD("trailing data after the JSON document")
	}
	return v, nil
}

type jsonReader struct {
	dec   *json.Decoder
	depth int
}

func (r *jsonReader) token() (json.Token, error) {
	tok, err := r.dec.Token()
	if err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, invalidTD("malformed JSON at byte %d", syn.Offset)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, invalidTD("malformed JSON: it ends early")
		}
		return nil, invalidTD("malformed JSON")
	}
	return tok, nil
}

func (r *jsonReader) value() (any, error) {
	tok, err := r.token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if r.depth++; r.depth > MaxTypedDataDepth {
			return nil, limitTD("JSON nesting deeper than %d", MaxTypedDataDepth)
		}
		defer func() { r.depth-- }()
		if t == '{' {
			return r.object()
		}
		return r.array()
	default:
		return t, nil // string, json.Number, bool or nil
	}
}

func (r *jsonReader) object() (map[string]any, error) {
	m := make(map[string]any)
	for r.dec.More() {
		tok, err := r.token()
		if err != nil {
			return nil, err
		}
		key := tok.(string) // the decoder only returns a string here
		if _, dup := m[key]; dup {
			return nil, invalidTD("duplicate JSON key %s", shortQuote(key))
		}
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
	if _, err := r.token(); err != nil { // '}'
		return nil, err
	}
	return m, nil
}

func (r *jsonReader) array() ([]any, error) {
	var a []any
	for r.dec.More() {
		if len(a) == MaxTypedDataArrayLen {
			return nil, limitTD("JSON array longer than %d", MaxTypedDataArrayLen)
		}
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
	}
	if _, err := r.token(); err != nil { // ']'
		return nil, err
	}
	if a == nil {
		a = []any{}
	}
	return a, nil
}
