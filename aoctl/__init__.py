"""aoctl: the thin command-line client of aod (standard library, click and msgspec only)."""
