"""Every outside system behind the ports, plus the composition root (CLI, server)."""
