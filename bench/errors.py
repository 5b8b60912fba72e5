"""Expected failures, each reported as one line, never as a traceback; and the exit
codes, one per outcome, so that a script or CI can tell the outcomes apart."""

from enum import IntEnum, unique


@unique
class ExitCode(IntEnum):
    """``chanbench``'s exit status, one per outcome (``unique``: no two share a number).
    Declared once: ``--help`` lists them from here, README.md in a table."""

    OK = 0
    REGRESSION = 1
    USER_ERROR = 2
    POINT_FAILED = 3
    NOT_JUDGED = 4
    LEAK = 5
    INTERRUPTED = 130

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "done; for compare, no regression and every point judged",
    ExitCode.REGRESSION: "compare: a regression (a worse change past the fail threshold, "
    "or a point that failed in new)",
    ExitCode.USER_ERROR: "bad input or a broken setup (a full or read-only disk too), said "
    "in one line (argparse's usage errors exit 2 too): fix what it names and run again",
    ExitCode.POINT_FAILED: "run: a point failed (its reason is recorded in the result); the "
    "others were measured and saved",
    ExitCode.NOT_JUDGED: "compare: nothing worse, but a point the base has no measurement "
    "of, so the gate cannot vouch for it; bisect: could not decide which commit",
    ExitCode.LEAK: "compare: a leak, and nothing else worse: a churn counter flat in base "
    "leaks in new (a regression besides exits 1)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C, or SIGTERM during a run): a run saves what "
    "it measured, marked partial (serve stops on Ctrl-C with 0)",
}


class UserError(Exception):
    """Bad input or a broken environment that the user can fix; the message says how."""

    exit_code = ExitCode.USER_ERROR


class ServerError(UserError):
    """A server under test, or a service it needs (Redis, PostgreSQL), failed to start or
    stopped answering."""


class PointFailed(Exception):
    """A repeat could not be measured; the reason is recorded and the run goes on."""
