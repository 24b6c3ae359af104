// Package natsembed runs an in-process nats-server: the bus of local mode and of tests.
package natsembed

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options for the embedded server.
type Options struct {
	// Address is host:port; port 0 picks a free one. Default 127.0.0.1:0.
	Address string
	// JetStreamDir enables JetStream with this storage directory (empty: off).
	JetStreamDir string
	// Name of the server in logs and monitoring.
	Name string
}

// Start runs a nats-server in this process and waits until it accepts clients.
func Start(o Options) (*server.Server, error) {
	if o.Address == "" {
		o.Address = "127.0.0.1:0"
	}
	host, portStr, err := net.SplitHostPort(o.Address)
	if err != nil {
		return nil, fmt.Errorf("nats address %q: %w", o.Address, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("nats port %q: %w", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: o.Name,
		Host:       host,
		Port:       port,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: 8 << 20,
	}
	if o.JetStreamDir != "" {
		opts.JetStream = true
		opts.StoreDir = o.JetStreamDir
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats-server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats-server on %s did not become ready", o.Address)
	}
	return ns, nil
}
