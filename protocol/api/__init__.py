"""JSON-RPC method handlers, one module per domain; each has `register(table, services)`."""
