package api

// Reports answers the analytics reports (stub: the analytics worker's reports fill it in).
type Reports interface{}

// reportRoutes are the report routes.
func (s *Server) reportRoutes() []route { return nil }
