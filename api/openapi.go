package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// The OpenAPI 3 document is made from routeTable and the Go types of the bodies, so it
// cannot drift from the routes; a test checks it against the routes fiber serves.

// openapi serves the document.
func (s *Server) openapi(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(s.doc)
}

var pathParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// OpenAPIPath turns a fiber pattern into an OpenAPI path ("/a/:id" → "/a/{id}").
func OpenAPIPath(fiberPath string) string { return pathParam.ReplaceAllString(fiberPath, "{$1}") }

type schemaSet struct {
	defs map[string]any
}

// ref returns the schema of t, defining named structs once under components.
func (ss *schemaSet) ref(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeOf(time.Time{}):
		return map[string]any{"type": "string", "format": "date-time"}
	case reflect.TypeOf(time.Duration(0)):
		return map[string]any{"type": "integer", "description": "nanoseconds"}
	case reflect.TypeOf(json.RawMessage{}):
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": ss.ref(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": ss.ref(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		if t.Name() == "" {
			return ss.object(t)
		}
		name := componentName(t)
		if _, ok := ss.defs[name]; !ok {
			ss.defs[name] = nil // placeholder: recursive types terminate
			ss.defs[name] = ss.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

func componentName(t reflect.Type) string {
	pkg := t.PkgPath()
	if i := strings.LastIndexByte(pkg, '/'); i >= 0 {
		pkg = pkg[i+1:]
	}
	return pkg + "." + t.Name()
}

// object is the schema of a struct's JSON form.
func (ss *schemaSet) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = ss.ref(f.Type)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
				required = append(required, name)
			}
		}
	}
	walk(t)
	o := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// openAPIDocument builds the document of s.table.
func (s *Server) openAPIDocument() []byte {
	ss := &schemaSet{defs: map[string]any{}}
	errRef := ss.ref(reflect.TypeOf(ErrorBody{}))
	paths := map[string]map[string]any{}
	for _, r := range s.table {
		op := map[string]any{
			"operationId": operationID(r),
			"summary":     r.summary,
			"tags":        []string{r.tag},
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(r.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range r.query {
			sch := map[string]any{"type": q.typ}
			if q.typ == "date-time" {
				sch = map[string]any{"type": "string", "format": "date-time"}
			}
			p := map[string]any{"name": q.name, "in": "query", "schema": sch}
			if q.desc != "" {
				p["description"] = q.desc
			}
			params = append(params, p)
		}
		if r.idempotent {
			params = append(params, map[string]any{"name": HeaderIdempotencyKey, "in": "header",
				"description": "makes the request safe to retry: a repeated key gets the first result", "schema": map[string]any{"type": "string", "maxLength": maxIdemKeyLen}})
		}
		if r.access != public {
			op["security"] = []any{map[string]any{"bearer": []string{}}}
			op["x-roles"] = r.access.String()
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if r.body != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": ss.ref(reflect.TypeOf(r.body))}}}
		}
		status := r.status
		if status == 0 {
			status = http.StatusOK
		}
		ok := map[string]any{"description": http.StatusText(status)}
		switch {
		case r.kind == "websocket":
			ok["description"] = "switching to the WebSocket protocol (see the api/live package for the messages)"
		case r.kind == "redirect":
			ok["description"] = "redirect to the identity provider"
		case r.resp != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": ss.ref(reflect.TypeOf(r.resp))}}
		}
		errResp := map[string]any{"description": "error", "content": map[string]any{"application/json": map[string]any{"schema": errRef}}}
		op["responses"] = map[string]any{strconv.Itoa(status): ok, "default": errResp}
		p := OpenAPIPath(r.path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(r.method)] = op
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":   "TicketView API",
			"version": "1",
			"description": "Events, seat maps, holds and bookings for customers; events and sales for organizers; " +
				"users, venues and revenue for admins. Every error is {\"error\":{\"code\",\"message\"}}.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas":         ss.defs,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("api: the OpenAPI document does not encode: " + err.Error()) // a programming error, found by every test
	}
	return b
}

func operationID(r route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.method))
	for _, part := range strings.Split(r.path, "/") {
		if part == "" || part == "api" || part == "v1" {
			continue
		}
		part = strings.TrimPrefix(part, ":")
		part = strings.NewReplacer(".", "_", "-", "_").Replace(part)
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}
