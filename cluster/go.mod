module github.com/graftrt/graft/cluster

go 1.26.0

replace github.com/graftrt/graft => ../

require (
	ergo.services/ergo v1.999.320
	github.com/graftrt/graft v0.0.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	go.uber.org/zap v1.28.0
)

require (
	go.uber.org/multierr v1.10.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)

// Ergo v3.2.0 is tagged v1.999.320. The module proxy here refuses its import
// path ergo.services/ergo, but serves the same module from its repository path.
replace ergo.services/ergo v1.999.320 => github.com/ergo-services/ergo v1.999.320
