// Package handoffdemo is the handoff example: cmd/bankd is a service
// whose accounts are processes behind an HTTP API, built in two versions
// of its account module (account.V1, account.V2) and handed over from one
// build to the other under load; the test here builds both with go build
// and swaps them while clients keep depositing.
package handoffdemo
