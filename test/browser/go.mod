module github.com/graftrt/graft/test/browser

go 1.26.0

replace github.com/graftrt/graft => ../..

replace github.com/graftrt/graft/admin => ../../admin

require (
	github.com/chromedp/chromedp v0.24.0
	github.com/graftrt/graft v0.0.0
	github.com/graftrt/graft/admin v0.0.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
)

require (
	github.com/chromedp/cdproto v0.160.1 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
