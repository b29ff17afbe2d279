package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/graftrt/graft/admin"
)

// Client calls the admin API of one node.
type Client struct {
	base      *url.URL // scheme, host and prefix; API paths are appended
	addr      string   // the address as given, for messages
	token     string
	tokenFile string
	hc        *http.Client
}

// Option configures a Client.
type Option interface{ apply(*Client) }

type optionFunc func(*Client)

func (f optionFunc) apply(c *Client) { f(c) }

// WithHTTPClient makes the Client send its requests through hc (default: an
// http.Client over http.DefaultTransport, without a timeout: every method
// is bounded by its context, and the event stream has no end).
func WithHTTPClient(hc *http.Client) Option {
	return optionFunc(func(c *Client) { c.hc = hc })
}

// WithTokenFile names the file the token was read from (or would have
// been), so that a refused token says where to look.
func WithTokenFile(path string) Option {
	return optionFunc(func(c *Client) { c.tokenFile = path })
}

// New returns a Client of the node at addr: "host:port" (the form of
// admin.DefaultAddr) or a URL, "http://host:port/prefix" for an API
// mounted below a prefix. token is sent on every request.
func New(addr, token string, opts ...Option) (*Client, error) {
	raw := addr
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: bad address %q: want host:port or http://host:port[/prefix]", addr)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	c := &Client{base: u, addr: addr, token: token, hc: &http.Client{}}
	for _, o := range opts {
		o.apply(c)
	}
	return c, nil
}

// Addr returns the address the Client was made with.
func (c *Client) Addr() string { return c.addr }

// Sentinels matched by *Error with errors.Is.
var (
	// ErrNoNode: no node answered at the address.
	ErrNoNode = errors.New("client: no Graft node answers")
	// ErrUnauthorized: the node refused the token (401).
	ErrUnauthorized = errors.New("client: token refused")
	// ErrNotFound: no such process or upgrade (404).
	ErrNotFound = errors.New("client: not found")
	// ErrConflict: the request conflicts with the node's state (409), as
	// cancelling an upgrade that already committed.
	ErrConflict = errors.New("client: conflict")
)

// Error is an answer of the node that is not a 2xx (Status is its HTTP
// status and Message the node's message, from its admin.Error document),
// or no answer at all (Status 0; Err is the cause). Its text is Message,
// written for a person.
type Error struct {
	Status  int
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause of a node that did not answer (or, for a
// cluster endpoint a node does not serve, ErrNotInCluster).
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of the error's status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNoNode:
		return e.Status == 0
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	}
	return false
}

// url returns the URL of an API path ("/api/v1/tree").
func (c *Client) url(path string, query url.Values) string {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	return u.String()
}

// send sends a request and returns the response of a 2xx; any other
// answer, or none, is an error for a person.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, body any, accept string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, query), rd)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", accept)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, c.statusError(resp)
}

// transportError explains a request that got no answer.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		msg := "no Graft node answers at " + c.addr + " (is it running? --addr or GRAFT_ADDR)"
		if !errors.Is(err, syscall.ECONNREFUSED) {
			msg += ": " + op.Err.Error()
		}
		return &Error{Message: msg, Err: err}
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return &Error{Message: "no Graft node answers at " + c.addr + " (is it running? --addr or GRAFT_ADDR): " + dns.Error(), Err: err}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("the node at %s did not answer: %w", c.addr, err)
}

// statusError builds the *Error of a non-2xx answer from its admin.Error
// body.
func (c *Client) statusError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var doc admin.Error
	if json.Unmarshal(b, &doc) == nil && doc.Error != "" {
		e.Message = doc.Error
	} else {
		e.Message = fmt.Sprintf("the node at %s answered %s", c.addr, resp.Status)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		where := "--token or GRAFT_TOKEN"
		if c.tokenFile != "" {
			where = "--token, GRAFT_TOKEN or the token file " + c.tokenFile
		}
		e.Message = "the node refused the token (check " + where + ")"
	}
	return e
}

// call sends a request and decodes the JSON answer into out (unless out is
// nil).
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body, out any) error {
	resp, err := c.send(ctx, method, path, query, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("the node at %s answered %s %s with something that is not the admin API's document: %v",
			c.addr, method, path, err)
	}
	return nil
}

const api = "/api/" + admin.APIVersion
