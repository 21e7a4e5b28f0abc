// Package live serves live seat maps over WebSocket: a browser opens one connection per
// event, receives a snapshot of each section it follows and then every change of those
// sections, in order, as the seat engine makes it durable.
//
// # Mounting
//
// The Hub's Handler is a fiber handler for a route with an :event parameter:
//
//	app.Get("/api/v1/events/:event/live", hub.Handler()) // ?sections=a,b
//
// The gateway is fiber (fasthttp) while the WebSocket framing is gorilla/websocket's,
// which is net/http based. The handler validates the upgrade request (a plain request is
// answered 400 in the API's error shape, {"error":{"code":"invalid_input","message":...}};
// a refused Origin 403; an unknown event or section 404), copies what the upgrade needs
// into an *http.Request, and hijacks the fasthttp connection without a response; in the
// hijack handler gorilla's Upgrader writes the 101 itself, over an http.ResponseWriter
// whose Hijack returns that connection. fasthttp hands the connection over with the bytes
// it had already buffered, keeps it out of its server limits (timeouts, Shutdown) and
// closes it when the hijack handler returns, so the handler lives as long as the
// WebSocket. Call Hub.Close before shutting the fiber app down: fiber's Shutdown does not
// wait for hijacked connections.
//
// Query: sections=a,b follows those sections; without it, every section of the event;
// with it empty (?sections=), none until a subscribe message.
//
// # Protocol
//
// Every message is a JSON text frame with a "type".
//
// Server to client:
//
//	{"type":"snapshot","section":"a","seq":N,"availability":{...ticketview.Availability, with seats...}}
//	{"type":"delta","section":"a","seq":N,"prev":M,"seats":["A-1"],"status":"held","ga_free":0,"categories":[...]}
//	{"type":"unsubscribed","sections":["b"]}
//	{"type":"error","code":"not_found","message":"...","section":"b"}
//
// A snapshot comes first for each section the client subscribes to; it replaces whatever
// the client knew of that section. Deltas follow in the section's order: each one sets
// the listed seats (GA: ga_free) to its status and replaces the section's category
// counts; seq is the section's journal position, and prev is the seq of the section's
// previous delta (or of the snapshot's state). The server never sends a delta the
// snapshot already holds (seq <= snapshot.seq), nor one out of order. A client that
// finds prev beyond the seq it has (a gap) asks for a resync. When the server detects a
// loss upstream, it sends a fresh snapshot to every subscriber of the section without
// being asked.
//
// After "unsubscribed", nothing more arrives for those sections. An "error" with a
// section (the section's snapshot could not be read) ends the subscription to that
// section; subscribe again to retry. Other errors answer a message the server could not
// act on and change nothing.
//
// Client to server:
//
//	{"type":"subscribe","sections":["b"]}    snapshot, then deltas; already followed sections are left alone
//	{"type":"unsubscribe","sections":["b"]}  answered "unsubscribed"
//	{"type":"resync","section":"a"}          a fresh snapshot of a followed section
//
// A message is applied whole or not at all (an unknown section, or more than
// Config.MaxSections followed at once, refuses all of it with an error message).
// Messages are limited to MaxMessageSize bytes (a larger one closes the connection with
// 1009); malformed messages are answered with an error, but a client sending messages
// faster than 16 a second for long (malformed ones count 4; a burst of 64 is fine) is dropped with close
// code 1008.
//
// # Connection health
//
// The server pings every Config.Heartbeat and drops a client whose pong has not arrived
// within two intervals. A client whose queue of messages (Config.QueueSize) is full is
// dropped with close code 1013 "too slow, reconnect": it never holds back the upstream
// reader or the other clients. Hub.Close closes every connection with 1001.
package live
