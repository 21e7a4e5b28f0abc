package api

import (
	"bytes"
	"context"
	"io"

	"github.com/gofiber/fiber/v2"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/workers/analytics"
)

// Reports answers the analytics reports: analytics.Reports over the analytics store.
type Reports interface {
	Sales(ctx context.Context, q analytics.Query) (analytics.SalesReport, error)
	Trends(ctx context.Context, q analytics.Query) (analytics.TrendReport, error)
	Activity(ctx context.Context, q analytics.Query) (analytics.ActivityReport, error)
	Demographics(ctx context.Context, q analytics.Query) (analytics.DemographicsReport, error)
}

var _ Reports = analytics.Reports{}

// maxReportEvents bounds the events of one organizer a report covers.
const maxReportEvents = 10_000

var reportParams = []param{
	{"event", "string", "only this event (organizers: one of theirs)"},
	{"from", "date-time", "counts from this hour on (RFC 3339)"},
	{"to", "date-time", "counts before this hour (RFC 3339)"},
	{"format", "string", "json (default) or csv (a download)"},
}

// report is a report as the routes serve it: a JSON value that can also write itself as
// CSV.
type report interface{ WriteCSV(w io.Writer) error }

// reportFunc builds one kind of report.
type reportFunc func(ctx context.Context, r Reports, q analytics.Query) (report, error)

func salesReport(ctx context.Context, r Reports, q analytics.Query) (report, error) {
	return r.Sales(ctx, q)
}

func trendsReport(ctx context.Context, r Reports, q analytics.Query) (report, error) {
	return r.Trends(ctx, q)
}

func activityReport(ctx context.Context, r Reports, q analytics.Query) (report, error) {
	return r.Activity(ctx, q)
}

func demographicsReport(ctx context.Context, r Reports, q analytics.Query) (report, error) {
	return r.Demographics(ctx, q)
}

// reportRoutes are the report routes: organizers get their own events' reports (admins
// any event's), admins every event's.
func (s *Server) reportRoutes() []route {
	const O, A = "/api/v1/organizer/reports", "/api/v1/admin/reports"
	return []route{
		{method: "GET", path: O + "/sales", access: organizers, tag: tagReports, query: reportParams, resp: analytics.SalesReport{},
			summary: "Sales of my events: checkouts, orders, seats, revenue, refunds, conversion, per category", handler: s.report("sales", salesReport)},
		{method: "GET", path: O + "/trends", access: organizers, tag: tagReports, query: reportParams, resp: analytics.TrendReport{},
			summary: "My events hour by hour: holds, checkouts, orders, seats, revenue, failures, expiries", handler: s.report("trends", trendsReport)},
		{method: "GET", path: O + "/activity", access: organizers, tag: tagReports, query: reportParams, resp: analytics.ActivityReport{},
			summary: "Buyers of my events: how many were active, the top buyers", handler: s.report("activity", activityReport)},
		{method: "GET", path: O + "/demographics", access: organizers, tag: tagReports, query: reportParams, resp: analytics.DemographicsReport{},
			summary: "Buyers of my events by city and age band", handler: s.report("demographics", demographicsReport)},
		{method: "GET", path: A + "/sales", access: admins, tag: tagReports, query: reportParams, resp: analytics.SalesReport{},
			summary: "Sales of every event", handler: s.report("sales", salesReport)},
		{method: "GET", path: A + "/trends", access: admins, tag: tagReports, query: reportParams, resp: analytics.TrendReport{},
			summary: "Every event hour by hour", handler: s.report("trends", trendsReport)},
		{method: "GET", path: A + "/activity", access: admins, tag: tagReports, query: reportParams, resp: analytics.ActivityReport{},
			summary: "Buyers of every event: how many were active, the top buyers", handler: s.report("activity", activityReport)},
	}
}

// report serves one kind of report, as JSON or (format=csv) as a CSV download named
// "<name>-<date>.csv".
func (s *Server) report(name string, build reportFunc) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if s.cfg.Reports == nil {
			return ticketview.Errorf(ticketview.EUNAVAILABLE, "reports are not available on this server")
		}
		format := c.Query("format", "json")
		if format != "json" && format != "csv" {
			return invalid("format must be json or csv")
		}
		ctx, cancel := reqCtx(c)
		defer cancel()
		q, err := s.reportQuery(ctx, c)
		if err != nil {
			return err
		}
		rep, err := build(ctx, s.cfg.Reports, q)
		if err != nil {
			return err
		}
		if format == "json" {
			return c.JSON(rep)
		}
		var buf bytes.Buffer
		if err := rep.WriteCSV(&buf); err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+"-"+s.now().UTC().Format("2006-01-02")+`.csv"`)
		return c.Send(buf.Bytes())
	}
}

// reportQuery reads the period and the events of a report: the event asked for (which
// an organizer must own: 403 otherwise), else an admin's every event, else the
// organizer's own events.
func (s *Server) reportQuery(ctx context.Context, c *fiber.Ctx) (analytics.Query, error) {
	var q analytics.Query
	var err error
	if q.From, err = queryTime(c, "from"); err != nil {
		return q, err
	}
	if q.To, err = queryTime(c, "to"); err != nil {
		return q, err
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return q, invalid("to must not be before from")
	}
	p := principalOf(c)
	if id := c.Query("event"); id != "" {
		e, err := s.findEvent(ctx, id)
		if err != nil {
			return q, err
		}
		if err := ownEvent(p, e); err != nil {
			return q, err
		}
		q.Events = []string{e.ID}
		return q, nil
	}
	if p.is(ticketview.RoleAdmin) {
		return q, nil // every event
	}
	q.Events, err = s.organizerEvents(ctx, p.ID)
	return q, err
}

// organizerEvents lists the ids of the organizer's events (never nil: none is none, not
// every event).
func (s *Server) organizerEvents(ctx context.Context, organizer string) ([]string, error) {
	ids := []string{}
	if organizer == "" {
		return ids, nil
	}
	f := ticketview.EventFilter{Organizer: organizer, Limit: maxListLimit}
	for len(ids) < maxReportEvents {
		events, total, err := s.cfg.Events.ListEvents(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, e := range events {
			ids = append(ids, e.ID)
		}
		f.Offset += len(events)
		if len(events) == 0 || f.Offset >= total {
			break
		}
	}
	return ids, nil
}
