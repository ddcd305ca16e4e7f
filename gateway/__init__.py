"""The application: the one place that assembles storage, the domains' actors, the
JSON-RPC method table and the ports into a gateway process.

Imports go one way, `gateway -> protocol -> actors -> runtime`: the wire (`protocol`)
and the domains (`actors`) know nothing of how they are put together, so each can be
read and tested without the others. Here live the configuration (`config`), the
command line (`cli`, `commands`), logging set-up (`logs`), the metrics registry
(`metrics`) and the process itself with its supervision tree and phased shutdown
(`app`).
"""
