"""JSON-RPC method handlers, one module per domain. Each handler is a module-level
`async def name(call: Call[D])`, and each module's `METHODS` list declares its methods
(name, handler, params and result schemas, access) next to them: the index of its part
of the API. What `D` is, each module says (its domain's facade, or a record of them)."""
