package server

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sipws/sipws/edge/config"
)

// Reload applies a new configuration without touching open flows: paths, origins, limits,
// keep-alive and certificates take effect for the next handshake or tick. Fields read only at
// start-up (listener set, gateway, node, NATS, keys, admin) are kept and reported in the error,
// which says a rollout is needed for them and wraps ErrRestartRequired.
// ErrRestartRequired marks a reload that was applied except for start-up fields: trying the
// same file again changes nothing.
var ErrRestartRequired = errors.New("changes need a restart")

func (s *Server) Reload(cfg *config.Config) error {
	if err := cfg.Validate(); err != nil {
		s.m.configReloads.WithLabelValues("config", "invalid").Inc()
		return fmt.Errorf("reload: %w", err)
	}
	old := s.cfg.Load()
	restart := cfg.RestartRequired(old)
	next := *cfg
	// Start-up fields stay as they are until the process restarts.
	next.Gateway, next.Node, next.Workers, next.NATS, next.FlowToken, next.Admin =
		old.Gateway, old.Node, old.Workers, old.NATS, old.FlowToken, old.Admin
	next.Listeners = old.Listeners
	var errs []string
	for _, l := range s.listeners {
		for i := range cfg.Listeners {
			lc := cfg.Listeners[i]
			if lc.Name != l.name || lc.Address != l.address || lc.Protocol != l.transport {
				continue
			}
			if l.certs != nil {
				if _, err := l.certs.reload(lc.TLS.Certificates); err != nil {
					errs = append(errs, fmt.Sprintf("listener %s: %v", l.name, err))
					lc.TLS = l.cfg.Load().TLS // keep serving the old certificates
				}
			}
			l.cfg.Store(&lc)
		}
	}
	s.cfg.Store(&next)
	switch {
	case len(errs) > 0:
		s.m.configReloads.WithLabelValues("config", "partial").Inc()
		return fmt.Errorf("reload: %s", strings.Join(errs, "; "))
	case len(restart) > 0:
		s.m.configReloads.WithLabelValues("config", "restart_required").Inc()
		return fmt.Errorf("reload: applied, but %w: %s", ErrRestartRequired, strings.Join(restart, ", "))
	}
	s.m.configReloads.WithLabelValues("config", "ok").Inc()
	return nil
}

// reloadCertificates re-reads certificate files whose content changed (cert-manager renewals,
// Secret updates); called periodically by the sweeper.
func (s *Server) reloadCertificates() {
	for _, l := range s.listeners {
		if l.certs == nil {
			continue
		}
		swapped, err := l.certs.reload(l.cfg.Load().TLS.Certificates)
		switch {
		case err != nil:
			s.m.configReloads.WithLabelValues("certificates", "error").Inc()
			s.log.Warn("certificate reload failed; keeping the old ones", "listener", l.name, "err", err)
		case swapped:
			s.m.configReloads.WithLabelValues("certificates", "ok").Inc()
			s.log.Info("certificates reloaded", "listener", l.name)
		}
	}
}
