module github.com/graftrt/graft/cmd/graft

go 1.26.0

replace github.com/graftrt/graft => ../..

replace github.com/graftrt/graft/admin => ../../admin

require (
	github.com/graftrt/graft v0.0.0
	github.com/graftrt/graft/admin v0.0.0
	github.com/spf13/cobra v1.10.2
	go.uber.org/goleak v1.3.0
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
)
