"""Expected failures: each is reported as one line, never as a traceback."""


class UserError(Exception):
    """Bad input or a broken environment that the user can fix; the message says how."""

    exit_code = 2


class ServerError(UserError):
    """A server under test (Daphne, Redis) failed to start or stopped answering."""


class PointFailed(Exception):
    """A repeat could not be measured; the reason is recorded and the run goes on."""
