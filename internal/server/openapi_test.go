package server_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/niomon/niomon/internal/server"
)

// openAPIFile is docs/openapi.json, relative to this package's directory
// (where go test runs).
const openAPIFile = "../../docs/openapi.json"

// openAPIMethods are the Path Item keys that are operations; the others
// (parameters, summary, description, servers, $ref) are not.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIChecks are what docs/openapi.json must satisfy against the route
// table. Each returns its problems, one message per problem.
var openAPIChecks = []struct {
	name  string
	check func(doc map[string]any, routes []server.RouteInfo) []string
}{
	{"every API route is documented", checkEveryAPIRouteDocumented},
	{"every documented operation is an API route", checkEveryOperationIsAnAPIRoute},
	{"every operation has responses, a summary and a unique operationId", checkOperationFields},
	{"every $ref resolves to a components entry", checkRefsResolve},
	{"signed-in routes declare security and public ones security: []", checkSecurity},
}

func readOpenAPI(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatalf("reading %s: got %v, want the OpenAPI document", openAPIFile, err)
	}
	return b
}

func parseOpenAPI(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("parsing %s: got %v, want valid JSON", openAPIFile, err)
	}
	return doc
}

func TestOpenAPI_DocumentsExactlyTheAPIRoutes(t *testing.T) {
	doc := parseOpenAPI(t, readOpenAPI(t))
	routes := server.Routes()
	if n := len(apiRoutes(routes)); n == 0 {
		t.Fatalf("server.Routes(): got %d API routes, want some", n)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi: got %q, want 3.1.x", v)
	}
	for _, c := range openAPIChecks {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range c.check(doc, routes) {
				t.Error(p)
			}
		})
	}
}

// TestOpenAPI_ChecksCatchABrokenDocument breaks a copy of the document one
// way at a time and expects the check for that rule to report it, so the
// test above cannot pass by checking nothing.
func TestOpenAPI_ChecksCatchABrokenDocument(t *testing.T) {
	b := readOpenAPI(t)
	routes := server.Routes()
	var public, signedIn server.RouteInfo
	for _, r := range apiRoutes(routes) {
		if r.SignedIn && signedIn.Path == "" {
			signedIn = r
		}
		if !r.SignedIn && public.Path == "" {
			public = r
		}
	}
	if public.Path == "" || signedIn.Path == "" {
		t.Fatalf("server.Routes(): got public %q and signed-in %q API routes, want one of each", public.Path, signedIn.Path)
	}
	opOf := func(doc map[string]any, r server.RouteInfo) map[string]any {
		return doc["paths"].(map[string]any)[openAPIPath(r.Path)].(map[string]any)[strings.ToLower(r.Method)].(map[string]any)
	}
	tests := []struct {
		name   string
		check  int // index in openAPIChecks
		mutate func(doc map[string]any)
	}{
		{"a bogus path", 1, func(doc map[string]any) {
			doc["paths"].(map[string]any)["/v1/bogus"] = map[string]any{"get": opOf(doc, public)}
		}},
		{"a bogus method on a real path", 1, func(doc map[string]any) {
			doc["paths"].(map[string]any)[openAPIPath(public.Path)].(map[string]any)["delete"] = opOf(doc, public)
		}},
		{"a missing route", 0, func(doc map[string]any) {
			delete(doc["paths"].(map[string]any)[openAPIPath(public.Path)].(map[string]any), strings.ToLower(public.Method))
		}},
		{"an empty summary", 2, func(doc map[string]any) { opOf(doc, public)["summary"] = "" }},
		{"no operationId", 2, func(doc map[string]any) { delete(opOf(doc, public), "operationId") }},
		{"a duplicate operationId", 2, func(doc map[string]any) {
			opOf(doc, public)["operationId"] = opOf(doc, signedIn)["operationId"]
		}},
		{"no responses", 2, func(doc map[string]any) { opOf(doc, public)["responses"] = map[string]any{} }},
		{"a dangling $ref", 3, func(doc map[string]any) {
			opOf(doc, public)["responses"].(map[string]any)["418"] = map[string]any{"$ref": "#/components/responses/Teapot"}
		}},
		{"a $ref outside components", 3, func(doc map[string]any) {
			opOf(doc, public)["responses"].(map[string]any)["418"] = map[string]any{"$ref": "#/info"}
		}},
		{"a public route without security", 4, func(doc map[string]any) { delete(opOf(doc, public), "security") }},
		{"a signed-in route with security: []", 4, func(doc map[string]any) { opOf(doc, signedIn)["security"] = []any{} }},
		{"an unknown security scheme", 4, func(doc map[string]any) {
			opOf(doc, signedIn)["security"] = []any{map[string]any{"basic": []any{}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := parseOpenAPI(t, b) // a fresh copy
			c := openAPIChecks[tt.check]
			if p := c.check(doc, routes); len(p) != 0 {
				t.Fatalf("%s, before the change: got %q, want no problem", c.name, p)
			}
			tt.mutate(doc)
			if p := c.check(doc, routes); len(p) == 0 {
				t.Errorf("%s, after %s: got no problem, want one", c.name, tt.name)
			}
		})
	}
}

func apiRoutes(routes []server.RouteInfo) []server.RouteInfo {
	var out []server.RouteInfo
	for _, r := range routes {
		if r.API {
			out = append(out, r)
		}
	}
	return out
}

// openAPIPath is a ServeMux pattern path as an OpenAPI path: the same,
// less a trailing {$} and the ... of a rest wildcard.
func openAPIPath(p string) string {
	p = strings.TrimSuffix(p, "{$}")
	return strings.ReplaceAll(p, "...}", "}")
}

// docOperation is one operation of the document.
type docOperation struct {
	path, method string // method in lower case
	op           map[string]any
}

func (o docOperation) String() string { return strings.ToUpper(o.method) + " " + o.path }

// operations lists the document's operations in a stable order. A path
// item or operation that is not a JSON object is reported as a problem.
func operations(doc map[string]any) ([]docOperation, []string) {
	var out []docOperation
	var problems []string
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		return nil, []string{fmt.Sprintf("paths: got %T, want an object", doc["paths"])}
	}
	for _, path := range sortedKeys(paths) {
		item, ok := paths[path].(map[string]any)
		if !ok {
			problems = append(problems, fmt.Sprintf("paths[%q]: got %T, want an object", path, paths[path]))
			continue
		}
		for _, m := range openAPIMethods {
			v, ok := item[m]
			if !ok {
				continue
			}
			op, ok := v.(map[string]any)
			if !ok {
				problems = append(problems, fmt.Sprintf("paths[%q].%s: got %T, want an object", path, m, v))
				continue
			}
			out = append(out, docOperation{path: path, method: m, op: op})
		}
	}
	return out, problems
}

func routeKey(method, path string) string { return strings.ToUpper(method) + " " + path }

func checkEveryAPIRouteDocumented(doc map[string]any, routes []server.RouteInfo) []string {
	ops, problems := operations(doc)
	have := map[string]bool{}
	for _, o := range ops {
		have[routeKey(o.method, o.path)] = true
	}
	for _, r := range apiRoutes(routes) {
		k := routeKey(r.Method, openAPIPath(r.Path))
		if !have[k] {
			problems = append(problems, fmt.Sprintf("%s: got no operation paths[%q].%s, want one (it is an API route)",
				k, openAPIPath(r.Path), strings.ToLower(r.Method)))
		}
	}
	return problems
}

func checkEveryOperationIsAnAPIRoute(doc map[string]any, routes []server.RouteInfo) []string {
	ops, problems := operations(doc)
	api := map[string]bool{}
	for _, r := range apiRoutes(routes) {
		api[routeKey(r.Method, openAPIPath(r.Path))] = true
	}
	for _, o := range ops {
		if !api[o.String()] {
			problems = append(problems, fmt.Sprintf("%s: got it documented, want only the API routes of server.Routes()", o))
		}
	}
	return problems
}

func checkOperationFields(doc map[string]any, _ []server.RouteInfo) []string {
	ops, problems := operations(doc)
	seen := map[string]string{} // operationId → operation
	for _, o := range ops {
		if r, _ := o.op["responses"].(map[string]any); len(r) == 0 {
			problems = append(problems, fmt.Sprintf("%s: got responses %v, want at least one", o, o.op["responses"]))
		}
		if s, _ := o.op["summary"].(string); strings.TrimSpace(s) == "" {
			problems = append(problems, fmt.Sprintf("%s: got summary %q, want a non-empty one", o, o.op["summary"]))
		}
		id, _ := o.op["operationId"].(string)
		if id == "" {
			problems = append(problems, fmt.Sprintf("%s: got operationId %q, want a non-empty one", o, o.op["operationId"]))
			continue
		}
		if prev, dup := seen[id]; dup {
			problems = append(problems, fmt.Sprintf("%s: got operationId %q, also used by %s; want unique ids", o, id, prev))
			continue
		}
		seen[id] = o.String()
	}
	return problems
}

func checkRefsResolve(doc map[string]any, _ []server.RouteInfo) []string {
	var problems []string
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"]; ok {
				s, _ := r.(string)
				if _, err := resolvePointer(doc, s); err != nil {
					problems = append(problems, fmt.Sprintf("%s: got $ref %q (%v), want a reference to an existing #/components/… entry", at, s, err))
				}
			}
			for _, k := range sortedKeys(v) {
				walk(v[k], at+"/"+escapePointer(k))
			}
		case []any:
			for i, e := range v {
				walk(e, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc, "#")
	return problems
}

// resolvePointer resolves a local reference "#/components/KIND/NAME[/…]"
// (RFC 6901 escaping) in doc.
func resolvePointer(doc map[string]any, ref string) (any, error) {
	const prefix = "#/components/"
	if !strings.HasPrefix(ref, prefix) {
		return nil, fmt.Errorf("not under %s", prefix)
	}
	parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
	if len(parts) < 3 {
		return nil, fmt.Errorf("names no entry of a components section")
	}
	var cur any = doc
	for i, p := range parts {
		p = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[p]
			if !ok {
				return nil, fmt.Errorf("no %q in #/%s", p, strings.Join(parts[:i], "/"))
			}
			cur = next
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n >= len(c) {
				return nil, fmt.Errorf("no index %q in #/%s", p, strings.Join(parts[:i], "/"))
			}
			cur = c[n]
		default:
			return nil, fmt.Errorf("#/%s is not an object or array", strings.Join(parts[:i], "/"))
		}
	}
	return cur, nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func checkSecurity(doc map[string]any, routes []server.RouteInfo) []string {
	ops, problems := operations(doc)
	signedIn := map[string]bool{}
	for _, r := range apiRoutes(routes) {
		signedIn[routeKey(r.Method, openAPIPath(r.Path))] = r.SignedIn
	}
	var schemes map[string]any
	if c, ok := doc["components"].(map[string]any); ok {
		schemes, _ = c["securitySchemes"].(map[string]any)
	}
	for _, o := range ops {
		raw, declared := o.op["security"]
		sec, isList := raw.([]any)
		switch {
		case !declared || !isList:
			problems = append(problems, fmt.Sprintf("%s: got security %v, want it declared as a list (public: [])", o, raw))
			continue
		case signedIn[o.String()] && len(sec) == 0:
			problems = append(problems, fmt.Sprintf("%s: got security [], want the session schemes (the route needs a session)", o))
		case !signedIn[o.String()] && len(sec) != 0:
			problems = append(problems, fmt.Sprintf("%s: got security %v, want [] (the route is public)", o, sec))
		}
		for _, req := range sec {
			m, ok := req.(map[string]any)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: got security requirement %v, want an object", o, req))
				continue
			}
			for name := range m {
				if _, ok := schemes[name]; !ok {
					problems = append(problems, fmt.Sprintf("%s: got security scheme %q, want one of components.securitySchemes %v", o, name, sortedKeys(schemes)))
				}
			}
		}
	}
	return problems
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
