// Package cluster holds what the nodes of a TicketView cluster agree on: how a section is
// named as a virtual actor (grain) and, with the cluster issue, membership (memberlist)
// and placement. A single node uses the same identities for its local section actors, so
// a section is addressed the same way whether it runs in process or on another node.
package cluster

import (
	"strings"

	ticketview "github.com/ticketview/ticketview"
)

// SectionKind is the grain kind of section actors.
const SectionKind = "section"

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
