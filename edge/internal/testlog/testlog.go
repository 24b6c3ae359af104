// Package testlog is the logger the edge's and router's tests give the code under test.
package testlog

import (
	"log/slog"
	"os"
)

// Logger discards logs unless SIPWS_TEST_LOG is set, then writes debug logs to stderr.
func Logger() *slog.Logger {
	if os.Getenv("SIPWS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
