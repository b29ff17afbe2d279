// Package browser holds the end-to-end test of the admin API's live view:
// a real system with a supervised service under load, the admin server,
// and headless Chromium reading the page while the service is upgraded
// and a worker crashes. It is a module of its own so that the browser
// driver stays out of the framework's dependencies. It needs Debian's
// chromium (make browser-deps); the test fails without it, except under
// -short, where it is skipped.
package browser
