"""Remote hosts (issue 21): this aod federates other machines' aods over SSH.

`routing` (pure): `NAME/ID` addresses, which methods are forwarded, ids rewritten both ways, the
ssh argv. `remote`: one JSON-RPC client per host over a subprocess's pipes (`ssh … aoctl rpc
--stdio`, or `hosts.NAME.command`), with its cache of that host's sessions. `hosts`: the service in
aod's nursery, forwarding, the merged listing, placement. docs/_scale-out-hosts.md.
"""
