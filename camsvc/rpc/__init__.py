"""JSON-RPC 2.0 over WebSocket: protocol, method table, dispatch, server, subscriptions."""
