// Package client calls a Graft node's admin API (package admin) from Go:
// the supervision tree, processes, modules, upgrades and the event stream.
// The graft command is built on it.
//
//	c, err := client.New("127.0.0.1:8470", token)
//	tree, err := c.Tree(ctx)
//	up, err := c.StartUpgrade(ctx, upgrade.PlanSpec{
//		Changes: []upgrade.ChangeSpec{{Module: "visits", Version: "v3"}},
//	})
//	err = c.Events(ctx, up.ID, func(ev admin.Event) error { ...; return nil })
//
// Every request carries the bearer token, and every method takes a
// context that bounds it. A Client holds no connection of its own beyond
// its http.Client's idle ones; it is safe for concurrent use.
//
// Errors are meant to be shown to a person as they are. An answer that is
// not a 2xx is an *Error carrying the status and the node's message (the
// admin.Error document); a node that does not answer at all (connection
// refused, unknown host) is an *Error with Status 0. Both match the
// sentinels of this package with errors.Is: ErrNoNode,
// ErrUnauthorized (401), ErrNotFound (404), ErrConflict (409). An error of
// the context is returned as it is.
package client
