package api

import (
	"github.com/gofiber/fiber/v2"

	ticketview "github.com/ticketview/ticketview"
)

// live serves the WebSocket seat maps of a visible event (see package api/live).
func (s *Server) live(c *fiber.Ctx) error {
	if s.cfg.Live == nil {
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "live seat maps are not available on this server")
	}
	ctx, cancel := reqCtx(c)
	_, err := s.publicEvent(ctx, c, c.Params("event"))
	cancel()
	if err != nil {
		return err
	}
	return s.liveHandler(c)
}
