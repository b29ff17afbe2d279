package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/admin/client"
)

// app is one run of the command: its streams, environment and global
// flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// transport is this run's own, so that its idle connections end with
	// the run (tests run many in one process).
	transport *http.Transport

	addr, token, tokenFile, output string
	// cluster: the command is about the node's whole cluster (--cluster).
	cluster bool

	// noToken explains a 401 when no token was found at all.
	noToken error
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv,
		transport: http.DefaultTransport.(*http.Transport).Clone()}
}

func (a *app) close() { a.transport.CloseIdleConnections() }

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "graft",
		Short: "Operate a running Graft node through its admin API",
		Long: `graft operates a running Graft node through its admin API: the supervision
tree, processes, modules and their versions, hot code upgrades and the event
stream.

The node is found at --addr, else $GRAFT_ADDR, else ` + admin.DefaultAddr + `. The
token is --token, else $GRAFT_TOKEN, else the contents of the token file:
--token-file, else $GRAFT_TOKEN_FILE, else the file the node writes for its
port.

With --cluster, status (the nodes), tree, ps, modules, upgrade and downgrade
are about every node of the node's cluster, through the cluster endpoints of
its admin API (a node whose service mounts cluster/clusteradmin).

Exit status: 0 done, 1 the node said no (an upgrade rolled back, refused,
failed or unconverged; an unknown process), 2 usage errors, bad plans, a node
that does not answer or refuses the token, or is not in a cluster (--cluster).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if a.output != "table" && a.output != "json" {
				return usagef(cmd, "-o %q: want table or json", a.output)
			}
			if a.cluster && !slices.Contains(clusterCommands, cmd.Name()) {
				return usagef(cmd, "--cluster: %s works on one node (--cluster is for %s)", cmd.CommandPath(), strings.Join(clusterCommands, ", "))
			}
			return nil
		},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return &usageError{cmd: cmd, err: err} })
	f := root.PersistentFlags()
	f.StringVar(&a.addr, "addr", "", "the node's admin API: host:port or http://host:port/prefix (default $GRAFT_ADDR, else "+admin.DefaultAddr+")")
	f.StringVar(&a.token, "token", "", "bearer token (default $GRAFT_TOKEN, else the token file)")
	f.StringVar(&a.tokenFile, "token-file", "", "file holding the token (default $GRAFT_TOKEN_FILE, else the file the node writes for its port)")
	f.StringVarP(&a.output, "output", "o", "table", "output: table (for people) or json (the API's documents, for scripts)")
	f.BoolVar(&a.cluster, "cluster", false, "the node's whole cluster, through its cluster endpoints: status (the nodes), tree, ps, modules, upgrade, downgrade")
	root.AddCommand(
		newStatusCmd(a), newTreeCmd(a), newPsCmd(a), newInspectCmd(a), newKillCmd(a), newModulesCmd(a),
		newUpgradeCmd(a, false), newUpgradeCmd(a, true), newCancelCmd(a), newUpgradesCmd(a),
		newUpgradeBinaryCmd(a), newRunCmd(a), newEventsCmd(a), newVersionCmd(a),
	)
	return root
}

// runE wraps a command's work: whatever fails is an exitError (status 1)
// unless it already says otherwise.
func (a *app) runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		var (
			ee *exitError
			ue *usageError
		)
		switch {
		case err == nil || errors.As(err, &ee) || errors.As(err, &ue):
			return err
		case a.noToken != nil && errors.Is(err, client.ErrUnauthorized):
			return &exitError{code: exitUsage, err: a.noToken}
		case errors.Is(err, client.ErrNotInCluster):
			return &exitError{code: exitUsage, err: err}
		}
		return &exitError{code: exitFailed, err: err}
	}
}

// args checks the number of positional arguments.
func args(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			return usagef(cmd, "wrong number of arguments; usage: %s", cmd.UseLine())
		}
		return nil
	}
}

// client returns a client of the node the flags and environment name.
func (a *app) client(cmd *cobra.Command) (*client.Client, error) {
	addr := first(a.addr, a.getenv("GRAFT_ADDR"), admin.DefaultAddr)
	port, err := portOf(addr)
	if err != nil {
		return nil, usagef(cmd, "--addr %q: %v", addr, err)
	}
	token := first(a.token, a.getenv("GRAFT_TOKEN"))
	file := first(a.tokenFile, a.getenv("GRAFT_TOKEN_FILE"))
	named := file != ""
	if !named {
		file = admin.DefaultTokenFile(port)
	}
	var unread error // the node's own token file could not be read
	if token == "" {
		b, err := os.ReadFile(file)
		switch {
		case err != nil && named:
			return nil, usagef(cmd, "cannot read the token file: %v", err)
		case err != nil:
			unread = err
		default:
			token = strings.TrimSpace(string(b))
			if token == "" {
				return nil, usagef(cmd, "the token file %s is empty", file)
			}
		}
	}
	c, err := client.New(addr, token, client.WithTokenFile(file), client.WithHTTPClient(&http.Client{Transport: a.transport}))
	if err != nil {
		return nil, usagef(cmd, "--addr %q: want host:port or http://host:port[/prefix]", addr)
	}
	if unread != nil {
		// Without a token the node answers 401: say where a token comes
		// from rather than that it was refused. The request is still sent:
		// that no node answers is the better message.
		var pe *fs.PathError
		if errors.As(unread, &pe) {
			unread = pe.Err
		}
		a.noToken = fmt.Errorf("no token: give --token or GRAFT_TOKEN, or a token file with --token-file or GRAFT_TOKEN_FILE (the node's own, %s, cannot be read: %v)", file, unread)
	}
	return c, nil
}

// first returns the first non-empty string.
func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// portOf is the port of an address as client.New takes it.
func portOf(addr string) (string, error) {
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			return "", err
		}
		if p := u.Port(); p != "" {
			return p, nil
		}
		if u.Scheme == "https" {
			return "443", nil
		}
		return "80", nil
	}
	_, port, err := net.SplitHostPort(addr)
	return port, err
}

// table reports whether the output is for people.
func (a *app) table() bool { return a.output == "table" }

// writeJSON prints a document for scripts.
func (a *app) writeJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
