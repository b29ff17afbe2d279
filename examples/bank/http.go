package bank

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/graftrt/graft/examples/bank/account"
)

// Handler serves the bank's HTTP API, in JSON. Amounts are in cents.
//
//	POST /accounts                  open an account; body {"deposit": 1000} (optional)
//	GET  /accounts                  every account, as the journal has it
//	GET  /accounts/{id}             one account, from its process: version and latest changes
//	POST /accounts/{id}/deposit     body {"amount": 250}
//	POST /accounts/{id}/withdraw    body {"amount": 250}
//	POST /transfers                 body {"from": 1, "to": 2, "amount": 250}
//	GET  /totals                    the journal's totals: money in, out, and the balances' sum
//
// Errors are {"error": "..."} with status 400 (bad input), 404 (no such
// account), 409 (refused: insufficient funds, the daily limit) or 503
// (the account did not answer: nothing changed, try again).
func (b *Bank) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /accounts", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Deposit int64 `json:"deposit"`
		}
		if !readJSON(w, r, &req, true) {
			return
		}
		acc, err := b.Open(r.Context())
		if err == nil && req.Deposit != 0 {
			acc, err = b.Deposit(r.Context(), acc.ID, req.Deposit)
		}
		answer(w, http.StatusCreated, acc, err)
	})
	mux.HandleFunc("GET /accounts", func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusOK, b.Accounts(), nil)
	})
	mux.HandleFunc("GET /accounts/{id}", func(w http.ResponseWriter, r *http.Request) {
		if id, ok := pathID(w, r); ok {
			acc, err := b.Balance(r.Context(), id)
			answer(w, http.StatusOK, acc, err)
		}
	})
	change := func(do func(context.Context, int, int64) (account.Reply, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var req struct {
				Amount int64 `json:"amount"`
			}
			if id, ok := pathID(w, r); ok && readJSON(w, r, &req, false) {
				acc, err := do(r.Context(), id, req.Amount)
				answer(w, http.StatusOK, acc, err)
			}
		}
	}
	mux.HandleFunc("POST /accounts/{id}/deposit", change(b.Deposit))
	mux.HandleFunc("POST /accounts/{id}/withdraw", change(b.Withdraw))
	mux.HandleFunc("POST /transfers", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			From   int   `json:"from"`
			To     int   `json:"to"`
			Amount int64 `json:"amount"`
		}
		if readJSON(w, r, &req, false) {
			t, err := b.Transfer(r.Context(), req.From, req.To, req.Amount)
			answer(w, http.StatusOK, t, err)
		}
	})
	mux.HandleFunc("GET /totals", func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusOK, b.Totals(), nil)
	})
	return mux
}

// readJSON decodes the request's body into v (an empty body is allowed if
// optional), or answers 400 and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil || (optional && errors.Is(err, io.EOF)) {
		return true
	}
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request body: " + err.Error()})
	return false
}

// pathID reads {id}, or answers 400 and returns false.
func pathID(w http.ResponseWriter, r *http.Request) (int, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("bad account id %q", r.PathValue("id"))})
		return 0, false
	}
	return id, true
}

// answer writes v with status ok, or err with the status its kind calls
// for.
func answer(w http.ResponseWriter, ok int, v any, err error) {
	if err == nil {
		writeJSON(w, ok, v)
		return
	}
	status := http.StatusServiceUnavailable
	switch {
	case errors.Is(err, ErrNoAccount):
		status = http.StatusNotFound
	case errors.Is(err, ErrSameAccount):
		status = http.StatusBadRequest
	case Refused(err):
		status = http.StatusConflict
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
