package api

// Orders is checkout and payments as the API uses them.
type Orders interface{}

// orderRoutes are the checkout and payment routes.
func (s *Server) orderRoutes() []route { return nil }
