"""aod: the daemon that runs fleets of AI coding agents from issue to merged pull request.

Kept import-free on purpose: aoctl imports `aod.protocol`, which imports this package first.
"""

__version__ = "0.1.0"
