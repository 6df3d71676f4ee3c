"""`aoctl mcp`: aod's methods as the tools of a Model Context Protocol server on stdio.

`tools.py` says which methods are tools and makes their schemas from aod/protocol.py (the source
OpenRPC is made from too); `server.py` speaks MCP's JSON-RPC on top of one aoctl client. See
docs/mcp.md.
"""
