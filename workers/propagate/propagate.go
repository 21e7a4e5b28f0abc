// Package propagate carries an organizer's price changes to the section actors. Its
// worker consumes the events' topic in a consumer group of its node's own, so that every
// node sees every change, and on each event.updated message whose changes include
// "prices" asks the node's engine to reconfigure the event's active sections (sections
// not active read the catalog when they activate).
package propagate

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"

	"go.uber.org/zap"

	"github.com/ticketview/ticketview"
)

// Topics are the topics the worker consumes.
var Topics = []string{ticketview.TopicEvents}

// Engine is what the worker drives: *actors.Engine.
type Engine interface {
	// Reconfigure gives the event's sections active on this node the event's categories
	// as the catalog has them now, and answers how many took them.
	Reconfigure(ctx context.Context, event string) (int, error)
}

// Config configures a Worker.
type Config struct {
	Source ticketview.MessageSource
	Engine Engine
	// Group is the consumer group, required and unique per node ("node-<id>"): every
	// node's engine must see every change.
	Group string
	Log   *zap.Logger // default: no logs
}

// Worker propagates price changes to one node's section actors.
type Worker struct {
	src   ticketview.MessageSource
	eng   Engine
	group string
	log   *zap.Logger
}

// New checks cfg and returns a worker: EINVALID without a source, an engine or a group.
func New(cfg Config) (*Worker, error) {
	if cfg.Source == nil || cfg.Engine == nil {
		return nil, ticketview.Errorf(ticketview.EINVALID, "propagate: a message source and an engine are required")
	}
	if cfg.Group == "" {
		return nil, ticketview.Errorf(ticketview.EINVALID, "propagate: a consumer group of this node's own is required (e.g. \"node-<id>\")")
	}
	w := &Worker{src: cfg.Source, eng: cfg.Engine, group: cfg.Group, log: cfg.Log}
	if w.log == nil {
		w.log = zap.NewNop()
	}
	return w, nil
}

// Run consumes until ctx ends (then it returns nil) or the source fails.
func (w *Worker) Run(ctx context.Context) error {
	err := w.src.Consume(ctx, w.group, Topics, w.Handle)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Handle handles one message (the worker's ticketview.MessageHandler). A message it
// cannot read, or that changed no prices, is skipped (nil). An engine's failure is
// returned, so that the message is delivered again, unless delivering it again cannot
// help: the event is gone (ENOTFOUND) or its sections refuse its categories (EINVALID).
func (w *Worker) Handle(ctx context.Context, m ticketview.Message) error {
	event, err := pricesChanged(m)
	if err != nil {
		w.log.Warn("propagate: message skipped", zap.String("topic", m.Topic), zap.String("key", m.Key),
			zap.Int64("offset", m.Offset), zap.Int32("partition", m.Partition), zap.Error(err))
		return nil
	}
	if event == "" {
		return nil
	}
	n, err := w.eng.Reconfigure(ctx, event)
	switch code := ticketview.ErrorCode(err); {
	case err == nil:
		w.log.Info("propagate: new prices given to the active sections", zap.String("event", event), zap.Int("sections", n))
		return nil
	case code == ticketview.ENOTFOUND || code == ticketview.EINVALID:
		w.log.Error("propagate: new prices not given to the active sections; delivering the message again would not help",
			zap.String("event", event), zap.Int("sections", n), zap.Error(err))
		return nil
	default:
		w.log.Warn("propagate: new prices not given to every active section, the message will be delivered again",
			zap.String("event", event), zap.Int("sections", n), zap.Error(err))
		return err
	}
}

// pricesChanged reads a message: the id of the event whose prices it says changed, ""
// for a message about anything else, an error for one that cannot be read.
func pricesChanged(m ticketview.Message) (string, error) {
	if m.Topic != ticketview.TopicEvents {
		return "", errors.New("unknown topic " + m.Topic)
	}
	env, err := ticketview.DecodeEnvelope(m.Value)
	if err != nil {
		return "", err
	}
	if env.V > ticketview.MessageVersion {
		return "", errors.New("envelope version " + strconv.Itoa(env.V) + " is newer than this build's")
	}
	if env.Type != ticketview.MsgEventUpdated {
		return "", nil
	}
	var data ticketview.EventData
	if err := json.Unmarshal(env.Data, &data); err != nil {
		return "", errors.New("message " + env.ID + ": event data: " + err.Error())
	}
	if !slices.Contains(data.Changed, "prices") {
		return "", nil
	}
	event := env.Key
	if data.Event != nil && data.Event.ID != "" {
		event = data.Event.ID
	}
	if event == "" {
		return "", errors.New("message " + env.ID + " names no event")
	}
	return event, nil
}
