"""One module per aoctl command (or command group)."""
