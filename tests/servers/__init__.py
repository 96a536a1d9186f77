"""Real servers the tests start for themselves (each a private instance on free loopback
ports, never a system service)."""
