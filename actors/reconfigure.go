package actors

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
)

// Price changes. An organizer may change an event's prices after it went on sale
// (ticketview.Event.CheckEdit). A section actor reads its categories from the catalog
// when it activates; one already active learns of the change through Reconfigure, called
// on every node (workers/propagate does it on each event.updated message that changed
// prices). The change is a message in the actor's mailbox, so it falls between two
// commands: holds before it keep their prices, holds after it take the new ones.

// reconfigure asks a section actor to take new price categories.
type reconfigure struct {
	cats []ticketview.PriceCategory
}

// reconfigured is the answer to a reconfigure.
type reconfigured struct {
	updated bool // false: the actor serves nothing more (fenced off, moved, not set up)
	err     error
}

// Reconfigure gives the sections of the event that are active in this engine (local
// activations, and the grains of a clustered engine) the event's categories as the
// catalog has them now, read as an activation reads them. It answers how many sections
// took them. Sections not active need nothing: they read the catalog when they activate.
// A section that refuses the categories (their codes differ from its own: EINVALID), or
// whose config cannot be read, is skipped, and the first such error is returned with the
// count of the others.
func (e *Engine) Reconfigure(ctx context.Context, event string) (int, error) {
	n := 0
	var first error
	for id, pid := range e.activeSections(event) {
		updated, err := e.reconfigureOne(ctx, id, pid)
		if updated {
			n++
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return n, first
}

// reconfigureOne re-reads a section's config and sends its categories to its actor.
func (e *Engine) reconfigureOne(ctx context.Context, id ticketview.SectionID, pid *actor.PID) (bool, error) {
	cfg, err := e.sectionConfig(ctx, id)
	if err != nil {
		return false, err
	}
	timeout := e.cfg.RequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return false, ticketview.Errorf(ticketview.EUNAVAILABLE, "section %s not reconfigured: no time left", id)
	}
	res, err := e.system.Root.RequestFuture(pid, &reconfigure{cats: cfg.Categories}, timeout).Result()
	switch {
	case errors.Is(err, actor.ErrDeadLetter):
		return false, nil // stopped meanwhile: it reads the catalog when it activates again
	case err != nil:
		return false, ticketview.Errorf(ticketview.EUNAVAILABLE, "section %s did not answer in time", id)
	}
	r, ok := res.(reconfigured)
	if !ok {
		return false, nil // a dead letter's answer
	}
	return r.updated, r.err
}

// activeSections are the actors of the event's sections active in this engine.
func (e *Engine) activeSections(event string) map[ticketview.SectionID]*actor.PID {
	out := map[ticketview.SectionID]*actor.PID{}
	e.mu.RLock()
	for id, pid := range e.sections {
		if id.Event == event {
			out[id] = pid
		}
	}
	e.mu.RUnlock()
	e.grainPID.Range(func(k, v any) bool {
		if id := k.(ticketview.SectionID); id.Event == event {
			out[id] = v.(*actor.PID)
		}
		return true
	})
	return out
}

// grainActive records a section grain activated here. It is called at the start of the
// grain's set-up, before it reads its config: a price change committed after that read
// is then seen by Reconfigure, whose message the grain handles after its set-up.
func (e *Engine) grainActive(id ticketview.SectionID, pid *actor.PID) { e.grainPID.Store(id, pid) }

// grainStopped forgets a stopped section grain (unless another one has its id since).
func (e *Engine) grainStopped(id ticketview.SectionID, pid *actor.PID) {
	if cur, ok := e.grainPID.Load(id); ok && cur.(*actor.PID).Equal(pid) {
		e.grainPID.CompareAndDelete(id, cur)
	}
}

// reconfigure applies new categories in the actor: to the live section, and to the config
// it is rebuilt from after a failed write. An actor without a section (its activation
// failed) takes them for its next attempt, as an activation would.
func (a *sectionActor) reconfigure(m *reconfigure) reconfigured {
	if a.fenced || a.moving || a.initErr != nil || a.cfg.Layout == nil {
		return reconfigured{} // serves nothing more: its successor reads the catalog
	}
	if a.sec != nil {
		if err := a.sec.SetCategories(m.cats); err != nil {
			a.log.Warn("new prices refused", zap.Error(err))
			return reconfigured{err: err}
		}
	}
	a.cfg.Categories = append([]ticketview.PriceCategory(nil), m.cats...)
	a.log.Info("section repriced")
	return reconfigured{updated: true}
}
