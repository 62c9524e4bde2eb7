"""The exit status of every `isodrop` command (isodrop(1), EXIT STATUS)."""

EXIT_OK = 0
EXIT_PROBLEMS = 1  # some ISO is not bootable, or a check failed
EXIT_USAGE = 2  # bad command line or configuration
EXIT_NOT_RUNNING = 3  # `status`: the service is not running (LSB convention)
EXIT_LOCKED = 4  # `serve`, `scan`: another isodrop process holds the state folder (isodrop/lock.py)
