package api

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/auth"
)

// route is one documented route: the table below makes both the fiber routes and the
// OpenAPI document (openapi.go), so that neither can forget the other.
type route struct {
	method, path string // fiber pattern (":param")
	access       access
	tag          string
	summary      string
	query        []param
	body         any // request body: a value of its type (nil: none)
	resp         any // response body: a value of its type (nil: none)
	status       int // success status (default 200)
	idempotent   bool
	handler      fiber.Handler
	kind         string // "" JSON; "websocket", "redirect", "text" otherwise
}

type param struct {
	name, typ, desc string // typ: string, integer, boolean, date-time
}

var pageParams = []param{
	{"offset", "integer", "items to skip (default 0)"},
	{"limit", "integer", "page size, 1 to 100 (default 20)"},
}

const (
	tagCatalog   = "catalog"
	tagAccounts  = "accounts"
	tagBuying    = "buying"
	tagOrganizer = "organizer"
	tagAdmin     = "admin"
	tagOrders    = "orders"
	tagReports   = "reports"
	tagOps       = "operations"
)

// routeTable lists every route of the API. S is the section prefix.
func (s *Server) routeTable() []route {
	t := s.coreRoutes()
	t = append(t, s.orderRoutes()...)
	return append(t, s.reportRoutes()...)
}

// coreRoutes are the routes of the catalog, holds, accounts, organizers and admins.
func (s *Server) coreRoutes() []route {
	const S = "/api/v1/events/:event/sections/:section"
	const O = "/api/v1/organizer/events/:event"
	return []route{
		// operations
		{method: "GET", path: "/healthz", tag: tagOps, summary: "Liveness", resp: map[string]string{}, handler: s.healthz},
		{method: "GET", path: "/readyz", tag: tagOps, summary: "Readiness (503 when not ready)", resp: map[string]string{}, handler: s.readyz},
		{method: "GET", path: "/api/openapi.json", tag: tagOps, summary: "This document", resp: map[string]any{}, handler: s.openapi},
		{method: "GET", path: "/api/v1/admin/cluster", access: admins, tag: tagOps, summary: "Cluster status (gateway)", resp: map[string]any{}, handler: s.status(s.cfg.ClusterStatus, "cluster")},
		{method: "GET", path: "/api/v1/admin/node", access: admins, tag: tagOps, summary: "This node's status", resp: map[string]any{}, handler: s.status(s.cfg.NodeStatus, "node")},

		// catalog (public)
		{method: "GET", path: "/api/v1/events", tag: tagCatalog, summary: "Browse and search events on sale (or cancelled/past)",
			query: append([]param{{"status", "string", "on_sale (default), past or cancelled"}, {"q", "string", "text in the name, description or location"},
				{"genre", "string", "exact genre"}, {"city", "string", "exact city, any case"}, {"from", "date-time", "starts at or after"}, {"to", "date-time", "starts before"}}, pageParams...),
			resp: EventList{}, handler: s.listEvents},
		{method: "GET", path: "/api/v1/events/:event", tag: tagCatalog, summary: "Event with venue, sections, categories, prices and availability", resp: EventDetails{}, handler: s.getEvent},
		{method: "GET", path: "/api/v1/events/:event/details", tag: tagCatalog, summary: "Rich description (images, performers, links)", resp: ticketview.EventDetails{}, handler: s.getEventDetails},
		{method: "GET", path: "/api/v1/events/:event/live", tag: tagCatalog, summary: "Live seat map (WebSocket): snapshots then ordered deltas",
			query: []param{{"sections", "string", "comma-separated section ids (default: all)"}}, kind: "websocket", status: http.StatusSwitchingProtocols, handler: s.live},
		{method: "GET", path: S, tag: tagCatalog, summary: "Section seat map with live status", query: []param{{"seats", "boolean", "include every seat"}},
			resp: ticketview.Availability{}, handler: s.getSection},
		{method: "GET", path: "/api/v1/venues", tag: tagCatalog, summary: "Venues", query: pageParams, resp: VenueList{}, handler: s.listVenues},
		{method: "GET", path: "/api/v1/venues/:venue", tag: tagCatalog, summary: "A venue with its sections", resp: ticketview.Venue{}, handler: s.getVenue},
		{method: "GET", path: "/api/v1/venues/:venue/map", tag: tagCatalog, summary: "Seat map drawing", resp: ticketview.SeatMap{}, handler: s.getSeatMap},

		// accounts
		{method: "POST", path: "/api/v1/auth/register", tag: tagAccounts, summary: "Create a customer account", body: RegisterRequest{}, resp: auth.Tokens{}, status: http.StatusCreated, handler: s.register},
		{method: "POST", path: "/api/v1/auth/login", tag: tagAccounts, summary: "Log in with email and password", body: LoginRequest{}, resp: auth.Tokens{}, handler: s.login},
		{method: "POST", path: "/api/v1/auth/refresh", tag: tagAccounts, summary: "Rotate the refresh token, get a new access token", body: RefreshRequest{}, resp: auth.Tokens{}, handler: s.refresh},
		{method: "POST", path: "/api/v1/auth/logout", tag: tagAccounts, summary: "End the login session (revokes its refresh tokens)", body: RefreshRequest{}, status: http.StatusNoContent, handler: s.logout},
		{method: "GET", path: "/api/v1/auth/providers", tag: tagAccounts, summary: "Configured OAuth2 providers", resp: ProviderList{}, handler: s.providers},
		{method: "GET", path: "/api/v1/auth/oauth/:provider", tag: tagAccounts, summary: "Start an OAuth2 login (redirects to the provider)", kind: "redirect", status: http.StatusFound, handler: s.oauthBegin},
		{method: "GET", path: "/api/v1/auth/oauth/:provider/callback", tag: tagAccounts, summary: "OAuth2 callback: log in, link or create the account",
			query: []param{{"code", "string", "authorization code"}, {"state", "string", "state"}}, resp: auth.Tokens{}, handler: s.oauthCallback},
		{method: "GET", path: "/api/v1/me", access: signedIn, tag: tagAccounts, summary: "My profile", resp: ticketview.User{}, handler: s.getMe},
		{method: "PATCH", path: "/api/v1/me", access: signedIn, tag: tagAccounts, summary: "Change my name or phone", body: ProfileRequest{}, resp: ticketview.User{}, handler: s.patchMe},
		{method: "POST", path: "/api/v1/me/password", access: signedIn, tag: tagAccounts, summary: "Change my password (ends every session)", body: PasswordRequest{}, status: http.StatusNoContent, handler: s.changePassword},

		// buying (customers)
		{method: "GET", path: "/api/v1/me/bookings", access: customers, tag: tagBuying, summary: "My bookings, newest first",
			query: append([]param{{"event", "string", "only this event"}}, pageParams...), resp: BookingList{}, handler: s.myBookings},
		{method: "POST", path: S + "/holds", access: customers, tag: tagBuying, summary: "Hold seats (explicit, best available or GA quantity)", body: HoldRequest{}, resp: ticketview.Hold{}, status: http.StatusCreated, idempotent: true, handler: s.createHold},
		{method: "GET", path: S + "/holds/:token", access: customers, tag: tagBuying, summary: "A hold of mine", resp: ticketview.Hold{}, handler: s.getHold},
		{method: "POST", path: S + "/holds/:token/extend", access: customers, tag: tagBuying, summary: "Extend a hold", body: ExtendRequest{}, resp: ticketview.Hold{}, idempotent: true, handler: s.extendHold},
		{method: "DELETE", path: S + "/holds/:token", access: customers, tag: tagBuying, summary: "Release a hold", status: http.StatusNoContent, idempotent: true, handler: s.releaseHold},
		{method: "POST", path: S + "/holds/:token/confirm", access: customers, tag: tagBuying, summary: "Check out: confirm the hold into a booking", body: ConfirmRequest{}, resp: ticketview.Booking{}, status: http.StatusCreated, idempotent: true, handler: s.confirmHold},
		{method: "GET", path: S + "/bookings/:booking", access: customers, tag: tagBuying, summary: "A booking of mine with its tickets", resp: ticketview.Booking{}, handler: s.getBooking},
		{method: "POST", path: S + "/bookings/:booking/cancel", access: customers, tag: tagBuying, summary: "Cancel my booking and request its refund", resp: ticketview.Booking{}, idempotent: true, handler: s.cancelBooking},

		// organizers (their own events; admins: every event)
		{method: "GET", path: "/api/v1/organizer/events", access: organizers, tag: tagOrganizer, summary: "My events, drafts included (admins: every event, or ?organizer=)",
			query: append([]param{{"status", "string", "draft, on_sale or cancelled"}, {"organizer", "string", "admins: this organizer's"}}, pageParams...), resp: EventList{}, handler: s.orgListEvents},
		{method: "POST", path: "/api/v1/organizer/events", access: organizers, tag: tagOrganizer, summary: "Create an event (a draft)", body: EventRequest{}, resp: ticketview.Event{}, status: http.StatusCreated, handler: s.orgCreateEvent},
		{method: "GET", path: O, access: organizers, tag: tagOrganizer, summary: "One of my events", resp: ticketview.Event{}, handler: s.orgGetEvent},
		{method: "PATCH", path: O, access: organizers, tag: tagOrganizer, summary: "Edit an event (after publication: details, time and prices only; changes reach the sections through the event pipeline)", body: EventRequest{}, resp: ticketview.Event{}, handler: s.orgPatchEvent},
		{method: "POST", path: O + "/publish", access: organizers, tag: tagOrganizer, summary: "Put on sale", resp: ticketview.Event{}, handler: s.orgPublish},
		{method: "POST", path: O + "/unpublish", access: organizers, tag: tagOrganizer, summary: "Take off sale (back to draft)", resp: ticketview.Event{}, handler: s.orgUnpublish},
		{method: "POST", path: O + "/cancel", access: organizers, tag: tagOrganizer, summary: "Cancel the event", resp: ticketview.Event{}, handler: s.orgCancel},
		{method: "PUT", path: O + "/details", access: organizers, tag: tagOrganizer, summary: "Set the rich description", body: ticketview.EventDetails{}, resp: ticketview.EventDetails{}, handler: s.putEventDetails},
		{method: "GET", path: O + "/sales", access: organizers, tag: tagOrganizer, summary: "Sales: bookings, tickets, revenue and per-section counts", resp: SalesReport{}, handler: s.orgSales},
		{method: "GET", path: O + "/bookings", access: organizers, tag: tagOrganizer, summary: "The event's bookings", query: pageParams, resp: BookingList{}, handler: s.orgBookings},
		{method: "GET", path: O + "/audit", access: organizers, tag: tagOrganizer, summary: "Seat-status history",
			query: []param{{"section", "string", ""}, {"seat", "string", ""}, {"owner", "string", ""}, {"from", "date-time", ""}, {"to", "date-time", ""}, {"limit", "integer", "1 to 1000"}},
			resp:  AuditTrail{}, handler: s.getAudit},
		{method: "POST", path: O + "/sections/:section/block", access: organizers, tag: tagOrganizer, summary: "Block seats (or GA places) from sale", body: BlockRequest{}, resp: ticketview.Availability{}, handler: s.block},
		{method: "POST", path: O + "/sections/:section/unblock", access: organizers, tag: tagOrganizer, summary: "Unblock seats", body: BlockRequest{}, resp: ticketview.Availability{}, handler: s.unblock},
		{method: "GET", path: O + "/sections/:section/bookings/:booking", access: organizers, tag: tagOrganizer, summary: "Any booking of the event", resp: ticketview.Booking{}, handler: s.orgGetBooking},
		{method: "POST", path: O + "/sections/:section/bookings/:booking/cancel", access: organizers, tag: tagOrganizer, summary: "Cancel any booking of the event", resp: ticketview.Booking{}, idempotent: true, handler: s.orgCancelBooking},
		{method: "POST", path: "/api/v1/venues", access: organizers, tag: tagOrganizer, summary: "Create a venue with its sections (seated sections: rows of seats, or a grid)", body: VenueRequest{}, resp: ticketview.Venue{}, status: http.StatusCreated, handler: s.createVenue},
		{method: "PUT", path: "/api/v1/venues/:venue/map", access: admins, tag: tagAdmin, summary: "Set a venue's seat map drawing", body: ticketview.SeatMap{}, resp: ticketview.SeatMap{}, handler: s.putSeatMap},

		// admins
		{method: "GET", path: "/api/v1/admin/users", access: admins, tag: tagAdmin, summary: "Users",
			query: append([]param{{"role", "string", "customer, organizer or admin"}, {"q", "string", "in the email or name"}}, pageParams...), resp: UserList{}, handler: s.adminListUsers},
		{method: "POST", path: "/api/v1/admin/users", access: admins, tag: tagAdmin, summary: "Create an account with any role", body: NewUserRequest{}, resp: ticketview.User{}, status: http.StatusCreated, handler: s.adminCreateUser},
		{method: "GET", path: "/api/v1/admin/users/:user", access: admins, tag: tagAdmin, summary: "A user", resp: ticketview.User{}, handler: s.adminGetUser},
		{method: "PATCH", path: "/api/v1/admin/users/:user", access: admins, tag: tagAdmin, summary: "Change a user's role, name, or disable them", body: UserPatch{}, resp: ticketview.User{}, handler: s.adminPatchUser},
		{method: "GET", path: "/api/v1/admin/revenue", access: admins, tag: tagAdmin, summary: "Revenue overview: per currency and per event", resp: RevenueReport{}, handler: s.adminRevenue},
	}
}
