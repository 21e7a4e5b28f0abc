package api

import (
	"strings"

	ticketview "github.com/ticketview/ticketview"
)

// DecodeHoldRequest exposes the hold-request decoder to the fuzz target.
var DecodeHoldRequest = decodeHoldRequest

// Routes lists "METHOD /openapi/path" of every route the server's fiber app serves,
// except the middleware, the Prometheus endpoint, the profiler and the catch-all.
func Routes(s *Server) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range s.app.GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" || r.Path == "/" || r.Path == "/metrics" || strings.HasPrefix(r.Path, "/debug/pprof") {
			continue
		}
		k := r.Method + " " + OpenAPIPath(r.Path)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// DecodeJSON exposes the strict body decoder to the fuzz target.
func DecodeJSON(body []byte, v any) error { return decodeJSON(body, v, false) }

// ApplyEvent applies an EventRequest to an event, as the organizer routes do.
func ApplyEvent(r *EventRequest, e *ticketview.Event) { r.apply(e) }
