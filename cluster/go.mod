module github.com/graftrt/graft/cluster

go 1.26.0

replace github.com/graftrt/graft => ../

replace github.com/graftrt/graft/admin => ../admin

require (
	ergo.services/ergo v1.999.320
	github.com/graftrt/graft v0.0.0
	github.com/graftrt/graft/admin v0.0.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	go.uber.org/zap v1.28.0
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.48.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// Ergo v3.2.0 is tagged v1.999.320. The module proxy here refuses its import
// path ergo.services/ergo, but serves the same module from its repository path.
replace ergo.services/ergo v1.999.320 => github.com/ergo-services/ergo v1.999.320
