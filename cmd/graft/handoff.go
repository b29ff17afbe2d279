package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/graftrt/graft/admin/client"
	"github.com/graftrt/graft/handoff"
)

func newUpgradeBinaryCmd(a *app) *cobra.Command {
	var checksum string
	cmd := &cobra.Command{
		Use:   "upgrade-binary PATH --checksum SHA256",
		Short: "Hand the running node over to a new build of its executable (a handoff), and report what happened",
		Long: `Hand the running node over to a new build of its executable, and report what
happened: POST /api/v1/handoff, served by a node whose admin API was started
with admin.Options.Handoff (see docs/handoff.md).

PATH is the new executable on the node's machine (a relative path is made
absolute here). --checksum is required: its SHA-256 in hex, from the build
pipeline (sha256sum PATH); the node refuses an executable whose checksum
differs. The command does not compute it, so that what runs is what was
built, not whatever the file holds now.

The old process starts the new one with its sockets, suspends every process
of its trees, moves their states over, and commits once the new process is
healthy; it answers with the report before it drains and exits. The report
lists every process: old PID → new PID, from → to version, state bytes,
queued messages, result; and the total time and the pause. If a step before
the commit fails, the new process exits and the old one resumes every
process as it was: the report names the failed step. With -o json the
command prints the admin.HandoffResult document.

An interrupt stops the command, not the handoff: it runs to its end on the
node.

Exit status: 0 committed; 1 aborted or refused (the old process runs on), or
a handoff already under way; 2 a bad command line or request, a node that
does not answer or refuses the token, or a node started without a handoff.`,
		Args: args(1, 1),
		RunE: a.runE(func(cmd *cobra.Command, argv []string) error {
			if checksum == "" {
				return usagef(cmd, "--checksum is required: the new executable's SHA-256 (sha256sum %s)", argv[0])
			}
			if b, err := hex.DecodeString(checksum); err != nil || len(b) != 32 {
				return usagef(cmd, "--checksum %q: want a SHA-256, 64 hex digits", checksum)
			}
			path, err := filepath.Abs(argv[0])
			if err != nil {
				return usagef(cmd, "path %q: %v", argv[0], err)
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			return a.upgradeBinary(cmd.Context(), c, path, checksum)
		}),
	}
	cmd.Flags().StringVar(&checksum, "checksum", "", "the new executable's SHA-256, hex (required)")
	return cmd
}

func (a *app) upgradeBinary(ctx context.Context, c *client.Client, path, checksum string) error {
	res, err := c.Handoff(ctx, path, checksum)
	if errors.Is(err, client.ErrNotFound) {
		return &exitError{code: exitUsage, err: err}
	}
	if err != nil {
		return err
	}
	if res.Report == nil {
		return fmt.Errorf("the node answered the handoff without a report")
	}
	committed := res.Report.Outcome == handoff.Committed
	if !a.table() {
		if err := a.writeJSON(res); err != nil {
			return err
		}
		if !committed {
			return &exitError{code: exitFailed}
		}
		return nil
	}
	res.Report.Print(a.stdout)
	if committed {
		return nil
	}
	msg := res.Error
	if msg == "" {
		msg = "handoff " + res.Report.Outcome + " at " + res.Report.Step + ": " + res.Report.Err
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("%s (the old process runs on)", msg)}
}
