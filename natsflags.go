package main

import (
	"github.com/sockbus/sockbus/bus"
	conf "github.com/sockbus/sockbus/config"
)

// externalNATS is the bus's external NATS (zero without --nats-url): a
// stateless edge. --nats-user/--nats-password authenticate there, as they
// protect the embedded server's listener otherwise.
func externalNATS(c conf.Config) bus.ExternalConfig {
	if c.NATSURL == "" {
		return bus.ExternalConfig{}
	}
	return bus.ExternalConfig{
		URL: c.NATSURL, CredsFile: c.NATSCreds, NKeySeedFile: c.NATSNKey,
		User: c.NATSUser, Password: c.NATSPassword,
		TLSCA: c.NATSTLSCA, TLSCert: c.NATSTLSCert, TLSKey: c.NATSTLSKey,
		PresenceWait: c.NATSPresenceWait,
	}
}
