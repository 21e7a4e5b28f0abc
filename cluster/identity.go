// Package cluster holds what the nodes of a TicketView cluster agree on: how a section is
// named as a virtual actor (grain) and, with the cluster issue, membership (memberlist)
// and placement. A single node uses the same identities for its local section actors, so
// a section is addressed the same way whether it runs in process or on another node.
package cluster

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	ticketview "github.com/ticketview/ticketview"
)

// SectionKind is the grain kind of section actors.
const SectionKind = "section"

// LedgerKind is the grain kind of the events' buyer ledgers (per-buyer limits across the
// cluster); a ledger grain's identity is its event's id (LedgerIdentity).
const LedgerKind = "buyers"

// LedgerIdentity is the identity of an event's buyer ledger grain.
func LedgerIdentity(eventID string) string { return eventID }

// Identity is a section's grain identity: "event/section".
func Identity(id ticketview.SectionID) string { return id.String() }

// ParseIdentity is the inverse of Identity.
func ParseIdentity(s string) (ticketview.SectionID, error) {
	ev, sec, ok := strings.Cut(s, "/")
	if !ok || ev == "" || sec == "" || strings.Contains(sec, "/") {
		return ticketview.SectionID{}, ticketview.Errorf(ticketview.EINVALID, "section identity %q is not event/section", s)
	}
	return ticketview.SectionID{Event: ev, Section: sec}, nil
}

// SectionIdentities lists the grain identities of every section of every event in the
// catalog (what KeepActive keeps placed and the cluster status shows).
func SectionIdentities(ctx context.Context, events ticketview.EventStore, venues ticketview.VenueStore) ([]string, error) {
	var out []string
	for offset := 0; ; {
		evs, total, err := events.ListEvents(ctx, ticketview.EventFilter{Offset: offset, Limit: 100})
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			v, err := venues.FindVenue(ctx, ev.VenueID)
			if err != nil {
				return nil, err
			}
			for _, s := range v.Sections {
				out = append(out, Identity(ticketview.SectionID{Event: ev.ID, Section: s.ID}))
			}
		}
		offset += len(evs)
		if len(evs) == 0 || offset >= total {
			return out, nil
		}
	}
}

// SplitHostPort parses a listen address of a flag ("host:port"; an empty host is every
// interface).
func SplitHostPort(addr, flag string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: %w", flag, addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%s %q: bad port", flag, addr)
	}
	if h == "" {
		h = "0.0.0.0"
	}
	return h, port, nil
}
