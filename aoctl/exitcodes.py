"""aoctl's exit codes (documented in docs/aoctl.md). Scripts may rely on them."""

OK = 0
FAILED = 1  # aod answered with an error, or the operation did not succeed
USAGE = 2  # bad command line (click's own code for usage errors)
NOT_RUNNING = 3  # aod is not running / the socket does not answer
PROTOCOL = 4  # aod answered something aoctl could not understand, or timed out
INTERRUPTED = 130
