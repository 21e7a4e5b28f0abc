package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/ticketview/ticketview"
)

//go:embed templates/*
var templateFS embed.FS

// The kinds of notification, each with its templates: templates/<kind>.txt defines
// "subject", "text" and optionally "sms" (text/template); templates/<kind>.html defines
// "title" and "content" for templates/layout.html (html/template, which escapes what
// buyers and organizers wrote).
const (
	kindConfirmed = "confirmed"
	kindRefunded  = "refunded"
	kindCancelled = "cancelled"
	kindExpired   = "expired"
	kindReminder  = "reminder"
)

var kinds = []string{kindConfirmed, kindRefunded, kindCancelled, kindExpired, kindReminder}

// templates are the parsed templates of every kind.
type templates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

func parseTemplates() (*templates, error) {
	t := &templates{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	for _, k := range kinds {
		tt, err := texttemplate.ParseFS(templateFS, "templates/"+k+".txt")
		if err != nil {
			return nil, err
		}
		ht, err := htmltemplate.ParseFS(templateFS, "templates/layout.html", "templates/"+k+".html")
		if err != nil {
			return nil, err
		}
		for _, name := range []string{"subject", "text"} {
			if tt.Lookup(name) == nil {
				return nil, fmt.Errorf("template %s.txt: no %q", k, name)
			}
		}
		t.text[k], t.html[k] = tt, ht
	}
	return t, nil
}

// message is a rendered notification.
type message struct {
	Subject, Text, HTML string
	SMS                 string // "" when the kind has no text message
}

// render renders the kind's templates for v.
func (t *templates) render(kind string, v *view) (message, error) {
	var m message
	tt, ht := t.text[kind], t.html[kind]
	exec := func(name string) (string, error) {
		var b bytes.Buffer
		err := tt.ExecuteTemplate(&b, name, v)
		return b.String(), err
	}
	var err error
	if m.Subject, err = exec("subject"); err != nil {
		return m, err
	}
	if m.Text, err = exec("text"); err != nil {
		return m, err
	}
	if tt.Lookup("sms") != nil {
		if m.SMS, err = exec("sms"); err != nil {
			return m, err
		}
	}
	var b bytes.Buffer
	if err := ht.ExecuteTemplate(&b, "layout", v); err != nil {
		return m, err
	}
	m.HTML = b.String()
	m.Subject, m.SMS = oneLine(m.Subject), oneLine(m.SMS)
	m.Text = strings.TrimSpace(m.Text) + "\n"
	return m, nil
}

// oneLine folds line breaks and runs of spaces into single spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// view is what the templates show.
type view struct {
	Name     string // the buyer's name, or "there"
	OrderID  string
	OrderURL string
	Event    eventView
	Tickets  []ticketView // the order's valid tickets
	Total    string
	Refund   *refundView
}

type eventView struct {
	Name     string
	When     string // "Sat 17 May 2030, 19:30 UTC"
	Short    string // "17 May 19:30"
	Location string
}

type ticketView struct {
	ID       string
	Section  string
	Seat     string // "General admission" for GA places
	Category string // the category's name
	Price    string
	QR       string // the signed payload of its QR code
	Link     string
}

type refundView struct {
	Amount    string
	Reason    string
	SeatsGone bool         // paid after the hold expired and the seats were taken
	Why       string       // the reason in words
	Void      []ticketView // the tickets the refund voided
}

// reasons say why a refund was made, by Refund.Reason.
var reasons = map[string]string{
	ticketview.RefundRequested: "This is the refund you asked for.",
	ticketview.RefundDuplicate: "You paid twice for this order: we refunded the second payment. Your tickets are still valid.",
	ticketview.RefundMismatch:  "The amount paid did not match the order's total, so we refunded it.",
	ticketview.RefundCancelled: "The event was cancelled.",
}

// newView builds the view of an order (with the refund concerned, if any) and its event.
func newView(publicURL string, o *ticketview.Order, ev *ticketview.Event, r *ticketview.Refund) *view {
	orderURL := strings.TrimRight(publicURL, "/") + "/orders/" + url.PathEscape(o.ID)
	v := &view{
		Name:     o.Contact.Name,
		OrderID:  o.ID,
		OrderURL: orderURL,
		Event:    eventView{Name: ev.Name, Location: ev.Location},
		Total:    o.Total.String(),
	}
	if strings.TrimSpace(v.Name) == "" {
		v.Name = "there"
	}
	if v.Event.Name == "" {
		v.Event.Name = ev.ID
	}
	if !ev.StartsAt.IsZero() {
		v.Event.When = ev.StartsAt.Format("Mon 2 Jan 2006, 15:04 MST")
		v.Event.Short = ev.StartsAt.Format("2 Jan 15:04")
	}
	ticket := func(t ticketview.Ticket) ticketView {
		tv := ticketView{ID: t.ID, Section: t.Section, Seat: t.Seat, Category: t.Category, Price: t.Price.String(), QR: t.QR,
			Link: orderURL + "#ticket-" + url.PathEscape(t.ID)}
		if tv.Seat == "" {
			tv.Seat = "General admission"
		}
		if c, ok := ev.Category(t.Category); ok && c.Name != "" {
			tv.Category = c.Name
		}
		return tv
	}
	for _, t := range o.Tickets {
		if !t.Void {
			v.Tickets = append(v.Tickets, ticket(t))
		}
	}
	if r != nil {
		v.Refund = &refundView{Amount: r.Amount.String(), Reason: r.Reason, SeatsGone: r.Reason == ticketview.RefundSeatsGone,
			Why: reasons[r.Reason]}
		for _, t := range o.Tickets {
			if slices.Contains(r.Sections, t.Section) {
				v.Refund.Void = append(v.Refund.Void, ticket(t))
			}
		}
	}
	return v
}

// eventStub stands for an event the catalog does not have (any more): its id as name.
func eventStub(id string) *ticketview.Event {
	return &ticketview.Event{ID: id, Name: id}
}

// reminderDue is when the reminder of an event starting at start is due.
func reminderDue(start time.Time, before time.Duration) time.Time { return start.Add(-before) }
