package baseline

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"

	"github.com/ticketview/ticketview/bench/load"
)

// errUnauthorized is a request without a buyer or without a bearer token: 401.
var errUnauthorized = errors.New("unauthorized")

// Handler serves the store through the HTTP API shape of bench/load/api.go:
//
//	POST   /api/v1/events/{event}/sections/{section}/holds                 -> 201 Hold
//	DELETE /api/v1/events/{event}/sections/{section}/holds/{token}         -> 204
//	POST   /api/v1/events/{event}/sections/{section}/holds/{token}/confirm -> 201 Booking
//	GET    /api/v1/events/{event}/sections/{section}?seats=true            -> 200 Availability
//	POST   /bench/setup (a load.Layout)                                    -> 204
//
// The buyer is the X-Buyer-ID header; holds, releases and confirmations also need an
// "Authorization: Bearer ..." header (any token is accepted). The section read needs
// neither. Errors have the body {"error":{"code":"...","message":"..."}}.
func Handler(s Store) *fiber.App {
	h := &handler{store: s}
	app := fiber.New(fiber.Config{ErrorHandler: errorHandler})
	app.Post("/bench/setup", h.setup)
	const sec = "/api/v1/events/:event/sections/:section"
	app.Get(sec, h.event, h.section)
	app.Post(sec+"/holds", h.auth, h.event, h.hold)
	app.Delete(sec+"/holds/:token", h.auth, h.event, h.release)
	app.Post(sec+"/holds/:token/confirm", h.auth, h.event, h.confirm)
	return app
}

type handler struct {
	store  Store
	layout atomic.Pointer[load.Layout] // set up through this handler, for stores that do not say
}

func (h *handler) setup(c *fiber.Ctx) error {
	var l load.Layout
	if err := decodeBody(c.Body(), &l, false); err != nil {
		return err
	}
	if err := h.store.Setup(c.UserContext(), l); err != nil {
		return err
	}
	h.layout.Store(&l)
	return c.SendStatus(http.StatusNoContent)
}

// auth requires a buyer and a bearer token.
func (h *handler) auth(c *fiber.Ctx) error {
	authz := c.Get(fiber.HeaderAuthorization)
	scheme, token, _ := strings.Cut(authz, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return wrapf(errUnauthorized, "an Authorization: Bearer header is required")
	}
	if strings.TrimSpace(c.Get(load.HeaderBuyer)) == "" {
		return wrapf(errUnauthorized, "the %s header is required", load.HeaderBuyer)
	}
	return c.Next()
}

// event checks the path's event is the one on sale.
func (h *handler) event(c *fiber.Ctx) error {
	var (
		l  load.Layout
		ok bool
	)
	if lo, isLayout := h.store.(layoutOf); isLayout {
		l, ok = lo.currentLayout()
	} else if p := h.layout.Load(); p != nil {
		l, ok = *p, true
	}
	if !ok {
		return notFoundf("no sale is set up")
	}
	if ev := param(c, "event"); ev != l.Event {
		return notFoundf("no event %q", ev)
	}
	return c.Next()
}

func buyer(c *fiber.Ctx) string { return strings.Clone(strings.TrimSpace(c.Get(load.HeaderBuyer))) }

// param is the path parameter, unescaped (the raw one when it is not valid escaping).
func param(c *fiber.Ctx, name string) string {
	p := c.Params(name)
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	return strings.Clone(p) // fiber reuses the request's memory
}

func (h *handler) hold(c *fiber.Ctx) error {
	var req load.HoldRequest
	if err := decodeBody(c.Body(), &req, false); err != nil {
		return err
	}
	hold, err := h.store.Hold(c.UserContext(), buyer(c), param(c, "section"), req)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(hold)
}

func (h *handler) release(c *fiber.Ctx) error {
	if err := h.store.Release(c.UserContext(), buyer(c), param(c, "section"), param(c, "token")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (h *handler) confirm(c *fiber.Ctx) error {
	var req load.ConfirmRequest
	if err := decodeBody(c.Body(), &req, true); err != nil {
		return err
	}
	b, err := h.store.Confirm(c.UserContext(), buyer(c), param(c, "section"), param(c, "token"), strings.TrimSpace(req.PaymentRef))
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(b)
}

func (h *handler) section(c *fiber.Ctx) error {
	a, err := h.store.Section(c.UserContext(), param(c, "section"))
	if err != nil {
		return err
	}
	if c.Query("seats") != "true" {
		a.Seats = nil
	}
	return c.JSON(a)
}

// decodeBody decodes one JSON object into v; an empty body is an error unless optional.
func decodeBody(body []byte, v any, optional bool) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		if optional {
			return nil
		}
		return invalidf("the request body must be a JSON object")
	}
	if body[0] != '{' {
		return invalidf("the request body must be a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return invalidf("bad JSON: %v", err)
	}
	return nil
}

// errorHandler writes every error as {"error":{"code":"...","message":"..."}}.
func errorHandler(c *fiber.Ctx, err error) error {
	status, code := http.StatusInternalServerError, "internal"
	var fe *fiber.Error
	switch {
	case errors.Is(err, ErrConflict):
		status, code = http.StatusConflict, "conflict"
	case errors.Is(err, ErrNotFound):
		status, code = http.StatusNotFound, "not_found"
	case errors.Is(err, ErrInvalid):
		status, code = http.StatusBadRequest, "invalid"
	case errors.Is(err, errUnauthorized):
		status, code = http.StatusUnauthorized, "unauthorized"
	case errors.As(err, &fe):
		status = fe.Code
		switch status {
		case http.StatusBadRequest:
			code = "invalid"
		case http.StatusNotFound:
			code = "not_found"
		case http.StatusMethodNotAllowed:
			code = "method_not_allowed"
		case http.StatusRequestEntityTooLarge:
			code = "too_large"
		default:
			if status < 500 {
				code = "invalid"
			}
		}
	}
	var body load.ErrorBody
	body.Error.Code = code
	body.Error.Message = err.Error()
	return c.Status(status).JSON(body)
}
