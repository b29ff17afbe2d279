module github.com/graftrt/graft/bench

go 1.26.8

require github.com/graftrt/graft v0.0.0

replace github.com/graftrt/graft => ../

require ergo.services/ergo v1.999.320

require (
	github.com/anthdm/hollywood v1.0.5 // indirect
	github.com/asynkron/protoactor-go v0.0.0-20240822202345-3c0e61ca19c9 // indirect
	go.uber.org/goleak v1.3.0 // indirect
)

// Ergo v3.2.0 is published under this pseudo-major path; the vanity import
// path does not resolve through the module proxy here, so fetch it from GitHub.
replace ergo.services/ergo v1.999.320 => github.com/ergo-services/ergo v1.999.320
