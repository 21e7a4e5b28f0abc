package api_test

import (
	"context"
	"encoding/csv"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api"
	"github.com/ticketview/ticketview/api/auth"
	"github.com/ticketview/ticketview/persistence/sqlite"
	"github.com/ticketview/ticketview/persistence/storetest"
	"github.com/ticketview/ticketview/workers/analytics"
)

// reportHour is the first hour of the reports' counters.
var reportHour = time.Date(2030, 5, 17, 10, 0, 0, 0, time.UTC)

// reportsEnv is a server with accounts and real reports over a SQLite analytics store:
// organizer org1 owns gig-a and gig-b, org2 owns gig-c, org3 owns nothing.
type reportsEnv struct {
	*env
	org1, org2, org3, customer string // "Bearer <access token>"
	org1ID                     string
}

const reportPassword = "correct horse battery"

func newReportsEnv(t *testing.T, withReports bool) *reportsEnv {
	t.Helper()
	ctx := context.Background()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "ticketview.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := auth.New(auth.Config{Users: db, Sessions: db, Secret: []byte(strings.Repeat("s", auth.MinSecretLen)), Hash: auth.FastHash})
	if err != nil {
		t.Fatal(err)
	}
	login := func(name string, role ticketview.Role) (string, string) {
		t.Helper()
		email := name + "@example.com"
		u, err := a.CreateUser(ctx, auth.Registration{Email: email, Password: reportPassword, Name: name, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := a.Login(ctx, email, reportPassword)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok.AccessToken, u.ID
	}
	re := &reportsEnv{}
	var org2ID string
	re.org1, re.org1ID = login("org1", ticketview.RoleOrganizer)
	re.org2, org2ID = login("org2", ticketview.RoleOrganizer)
	re.org3, _ = login("org3", ticketview.RoleOrganizer)
	re.customer, _ = login("cust", ticketview.RoleCustomer)

	if err := db.CreateVenue(ctx, storetest.SampleVenue("hall-1")); err != nil {
		t.Fatal(err)
	}
	for id, org := range map[string]string{"gig-a": re.org1ID, "gig-b": re.org1ID, "gig-c": org2ID} {
		e := storetest.SampleEvent(id, "hall-1", reportHour.Add(30*24*time.Hour))
		e.OrganizerID = org
		if err := db.CreateEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := db.PutEventInfo(ctx, ticketview.EventInfo{ID: id, Name: e.Name, OrganizerID: org, Currency: "INR",
			Status: string(e.Status), StartsAt: e.StartsAt, UpdatedAt: reportHour}); err != nil {
			t.Fatal(err)
		}
	}
	add := func(id string, incs ...ticketview.Increment) {
		t.Helper()
		if _, err := db.AddCounters(ctx, id, incs); err != nil {
			t.Fatal(err)
		}
	}
	n := func(event string, hour int, dim, value, metric string, delta int64) ticketview.Increment {
		return ticketview.Increment{Event: event, Hour: reportHour.Add(time.Duration(hour) * time.Hour), Dim: dim, Value: value, Metric: metric, Delta: delta}
	}
	add("m-a", n("gig-a", 0, "", "", ticketview.MetricOrders, 2), n("gig-a", 0, "", "", ticketview.MetricRevenue, 10000),
		n("gig-a", 0, ticketview.DimBuyer, "b-1", ticketview.MetricOrders, 2), n("gig-a", 0, ticketview.DimCity, "Pune", ticketview.MetricOrders, 2))
	add("m-b", n("gig-b", 1, "", "", ticketview.MetricOrders, 1), n("gig-b", 1, "", "", ticketview.MetricRevenue, 3000))
	add("m-c", n("gig-c", 0, "", "", ticketview.MetricOrders, 5), n("gig-c", 0, ticketview.DimBuyer, "b-2", ticketview.MetricOrders, 5),
		n("gig-c", 0, ticketview.DimCity, "Delhi", ticketview.MetricOrders, 5))

	cfg := api.Config{Events: db, Venues: db, Users: db, Sessions: db, Auth: a, Logger: log, AdminToken: adminToken, Now: time.Now}
	if withReports {
		cfg.Reports = analytics.Reports{Store: db}
	}
	srv := api.NewServer(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	re.env = &env{t: t, base: "http://" + ln.Addr().String(), db: db, srv: srv, http: &http.Client{Timeout: 20 * time.Second}}
	return re
}

// salesEvents asks for a sales report and answers its events' ids and orders.
func (e *reportsEnv) salesEvents(path, token string) map[string]int64 {
	e.t.Helper()
	var rep analytics.SalesReport
	e.ok(req{Path: path, Admin: token}, http.StatusOK, &rep)
	out := map[string]int64{}
	for _, s := range rep.Events {
		out[s.Event] = s.Orders
	}
	return out
}

func sameMap(t *testing.T, what string, got, want map[string]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
	}
}

const (
	orgReports   = "/api/v1/organizer/reports/"
	adminReports = "/api/v1/admin/reports/"
)

// TestReportsScope: organizers see their own events only, admins every event; other
// roles and anonymous callers are refused.
func TestReportsScope(t *testing.T) {
	e := newReportsEnv(t, true)
	admin := "Bearer " + adminToken
	sameMap(t, "org1's sales", e.salesEvents(orgReports+"sales", e.org1), map[string]int64{"gig-a": 2, "gig-b": 1})
	sameMap(t, "org1's sales of gig-a", e.salesEvents(orgReports+"sales?event=gig-a", e.org1), map[string]int64{"gig-a": 2})
	sameMap(t, "org2's sales", e.salesEvents(orgReports+"sales", e.org2), map[string]int64{"gig-c": 5})
	sameMap(t, "org3 has no events", e.salesEvents(orgReports+"sales", e.org3), map[string]int64{})
	sameMap(t, "an admin on the organizer route", e.salesEvents(orgReports+"sales", admin), map[string]int64{"gig-a": 2, "gig-b": 1, "gig-c": 5})
	sameMap(t, "an admin on gig-c", e.salesEvents(orgReports+"sales?event=gig-c", admin), map[string]int64{"gig-c": 5})
	sameMap(t, "the admin route", e.salesEvents(adminReports+"sales", admin), map[string]int64{"gig-a": 2, "gig-b": 1, "gig-c": 5})

	var act analytics.ActivityReport
	e.ok(req{Path: orgReports + "activity", Admin: e.org1}, http.StatusOK, &act)
	if act.ActiveBuyers != 1 || len(act.TopBuyers) != 1 || act.TopBuyers[0].Buyer != "b-1" || act.TopBuyers[0].Orders != 2 {
		t.Fatalf("org1's activity: %+v", act)
	}
	e.ok(req{Path: adminReports + "activity", Admin: admin}, http.StatusOK, &act)
	if act.ActiveBuyers != 2 || act.TopBuyers[0].Buyer != "b-2" {
		t.Fatalf("every event's activity: %+v", act)
	}
	var demo analytics.DemographicsReport
	e.ok(req{Path: orgReports + "demographics", Admin: e.org2}, http.StatusOK, &demo)
	if len(demo.Cities) != 1 || demo.Cities[0] != (analytics.DemographicRow{Value: "Delhi", Orders: 5}) {
		t.Fatalf("org2's demographics: %+v", demo)
	}
	var trends analytics.TrendReport
	e.ok(req{Path: orgReports + "trends", Admin: e.org1}, http.StatusOK, &trends)
	if len(trends.Points) != 2 || trends.Points[0].Event != "gig-a" || !trends.Points[1].Hour.Equal(reportHour.Add(time.Hour)) ||
		trends.Points[1].Revenue != 3000 {
		t.Fatalf("org1's trends: %+v", trends)
	}

	for _, kind := range []string{"sales", "trends", "activity", "demographics"} {
		e.fails(req{Path: orgReports + kind + "?event=gig-c", Admin: e.org1}, http.StatusForbidden, ticketview.EFORBIDDEN)
		e.fails(req{Path: orgReports + kind, Admin: e.customer}, http.StatusForbidden, ticketview.EFORBIDDEN)
		e.fails(req{Path: orgReports + kind, Buyer: "b-1"}, http.StatusForbidden, ticketview.EFORBIDDEN)
		e.fails(req{Path: orgReports + kind}, http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	}
	e.fails(req{Path: orgReports + "sales?event=nope", Admin: e.org1}, http.StatusNotFound, ticketview.ENOTFOUND)
	for _, kind := range []string{"sales", "trends", "activity"} {
		e.fails(req{Path: adminReports + kind, Admin: e.org1}, http.StatusForbidden, ticketview.EFORBIDDEN)
		e.fails(req{Path: adminReports + kind}, http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	}
}

// TestReportsPeriodAndCSV: from and to select the hours, bad ones are 400, and
// format=csv downloads a CSV file.
func TestReportsPeriodAndCSV(t *testing.T) {
	e := newReportsEnv(t, true)
	from := url.QueryEscape(reportHour.Add(time.Hour).Format(time.RFC3339))
	sameMap(t, "from hour 1", e.salesEvents(orgReports+"sales?from="+from, e.org1), map[string]int64{"gig-a": 0, "gig-b": 1})
	sameMap(t, "before hour 1", e.salesEvents(orgReports+"sales?to="+from, e.org1), map[string]int64{"gig-a": 2, "gig-b": 0})

	for _, q := range []string{"from=yesterday", "to=2030-13-01T00:00:00Z", "from=" + from + "&to=2030-01-01T00:00:00Z", "format=xml"} {
		e.fails(req{Path: orgReports + "sales?" + q, Admin: e.org1}, http.StatusBadRequest, ticketview.EINVALID)
	}

	res := e.ok(req{Path: orgReports + "sales?format=csv", Admin: e.org1}, http.StatusOK, nil)
	if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
	wantDisp := `attachment; filename="sales-` + time.Now().UTC().Format("2006-01-02") + `.csv"`
	if cd := res.Header.Get("Content-Disposition"); cd != wantDisp {
		// Midnight may pass between the request and this line.
		if !strings.HasPrefix(cd, `attachment; filename="sales-`) || !strings.HasSuffix(cd, `.csv"`) {
			t.Fatalf("content disposition %q, want %q", cd, wantDisp)
		}
	}
	recs, err := csv.NewReader(strings.NewReader(string(res.Body))).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v\n%s", err, res.Body)
	}
	if len(recs) != 3 || recs[0][0] != "event" || recs[0][5] != "orders" {
		t.Fatalf("records %q: want a header and gig-a's and gig-b's rows", recs)
	}
	if !slices.ContainsFunc(recs[1:], func(r []string) bool { return r[0] == "gig-a" && r[5] == "2" && r[9] == "10000" }) {
		t.Fatalf("records %q: no row of gig-a with 2 orders and 10000 revenue", recs)
	}
	res = e.ok(req{Path: adminReports + "trends?format=csv", Admin: "Bearer " + adminToken}, http.StatusOK, nil)
	if cd := res.Header.Get("Content-Disposition"); !strings.Contains(cd, `filename="trends-`) {
		t.Fatalf("content disposition %q", cd)
	}
	if recs, err := csv.NewReader(strings.NewReader(string(res.Body))).ReadAll(); err != nil || len(recs) != 4 || recs[0][0] != "hour" {
		t.Fatalf("trends CSV %q, %v: want a header and 3 points", recs, err)
	}
}

// TestReportsUnavailable: without reports the routes answer 503 in the error shape.
func TestReportsUnavailable(t *testing.T) {
	e := newReportsEnv(t, false)
	for _, r := range []req{{Path: orgReports + "sales", Admin: e.org1}, {Path: adminReports + "activity", Admin: "Bearer " + adminToken}} {
		// Not e.do, which takes any 5xx for a failure of the server.
		hr, err := http.NewRequest(http.MethodGet, e.base+r.Path, nil)
		if err != nil {
			t.Fatal(err)
		}
		hr.Header.Set("Authorization", r.Admin)
		res, err := e.http.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		checkError(t, r, resp{Status: res.StatusCode, Header: res.Header, Body: body}, http.StatusServiceUnavailable, ticketview.EUNAVAILABLE)
	}
}
