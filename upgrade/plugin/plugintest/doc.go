// Package plugintest builds plugin executables for tests, the way a service
// ships them: real binaries, run as real processes, checked by checksum.
package plugintest
