"""The bisection: which commit between a good and a bad one made the metric worse?

Each step measures three commits as the environments of one interleaved run: the
known-good side, the midpoint and the known-bad side. The midpoint is bad when it is
worse than the good side (compare's rule: past the threshold and p < 0.05, Holm over the
points), good when the bad side is worse than it; the third pair (good against bad)
says the regression still shows. A two-sided measurement is what lets a step decide
"good": against the good side alone, a good midpoint is only "not significant", which
too few repeats say of a bad one too. Undecided, the step measures another batch of
repeats, pooled with the first, up to a bound, and then says it could not decide.

Commits that do not build, or whose server does not run, are skipped (one line each,
as ``git bisect skip``); the nearest other commit is measured instead. When only
skipped commits lie between the last good and the first bad one, it names them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.bisect.measure import Measurer, Verdict, measured, verdict
from bench.deploy.commits import Commit
from bench.errors import ExitCode, UserError
from bench.judge import significance
from bench.results.model import Run


@dataclass
class Outcome:
    """How a bisection ended: ``first_bad`` with the change of the last pair measured
    around it, or why not (``message``), and the exit code that says which."""

    message: str
    code: ExitCode
    first_bad: Commit | None = None
    change: Verdict | None = None
    steps: int = 0
    skipped: list[Commit] = field(default_factory=list)


@dataclass
class Bisection:
    """The bisection of ``line`` (the good commit, the commits that touch the package,
    the bad commit), measured by ``measurer`` on ``metric``; ``say`` prints and logs."""

    measurer: Measurer
    line: Sequence[Commit]
    metric: str
    say: Callable[[str], None]
    threshold: float = significance.DEFAULT_THRESHOLD
    batch: int = 5
    max_repeats: int = 15
    skipped: set[int] = field(default_factory=set)
    steps: int = 0
    # The verdicts of every pair measured, (base sha, new sha) -> Verdict.
    pairs: dict[tuple[str, str], Verdict] = field(default_factory=dict)

    def run(self) -> Outcome:
        lo, hi = 0, len(self.line) - 1
        for end, side in ((lo, "--good"), (hi, "--bad")):
            if not self.measurer.build(self.line[end]):
                raise UserError(
                    f"{side} {self.line[end].short} does not build, so nothing can be "
                    f"measured against it: {self.measurer.broken[self.line[end].sha]}"
                )
        first = True
        while True:
            mid = self._midpoint(lo, hi)
            if mid is None and not first:
                return self._found(lo, hi) if hi - lo == 1 else self._ambiguous(lo, hi)
            decided = self._step(lo, mid, hi)
            if decided == "skip":
                continue
            if decided is None:
                return self._undecided(lo, hi, first)
            first = False
            if mid is not None:
                lo, hi = (lo, mid) if decided == "bad" else (mid, hi)

    def _midpoint(self, lo: int, hi: int) -> int | None:
        """The commit nearest the middle of ``lo``..``hi`` that builds, or ``None``."""
        middle = (lo + hi) // 2
        order = sorted(range(lo + 1, hi), key=lambda i: (abs(i - middle), -i))
        for i in order:
            if i in self.skipped:
                continue
            commit = self.line[i]
            if self.measurer.build(commit):
                return i
            self._skip(i, f"does not build: {self.measurer.broken[commit.sha]}")
        return None

    def _skip(self, i: int, why: str) -> None:
        self.skipped.add(i)
        self.say(f"skip {self.line[i]}: {why}")

    def _step(self, lo: int, mid: int | None, hi: int) -> str | None:
        """Measure ``lo``, ``mid`` and ``hi`` until the midpoint is good or bad (or,
        without a midpoint, until ``lo`` to ``hi`` is a regression): ``"good"``,
        ``"bad"``, ``"skip"`` (the midpoint did not run) or ``None``."""
        good, bad = self.line[lo], self.line[hi]
        middle = self.line[mid] if mid is not None else None
        commits = [good, *([middle] if middle else []), bad]
        self.steps += 1
        left = sum(1 for i in range(lo + 1, hi) if i not in self.skipped)
        what = f"{middle}" if middle else f"{bad.short} against {good.short}"
        left_ = f"{left} commit{'' if left == 1 else 's'}"
        self.say(f"step {self.steps}: {what} ({left_} left between good and bad)")
        runs: list[Run] = []
        while True:
            started = time.monotonic()
            runs.append(self.measurer.measure(commits, f"step{self.steps}"))
            repeats = len(runs) * self.batch
            took = time.monotonic() - started
            for side, commit in (("good", good), ("bad", bad)):
                if not measured(runs, commit):
                    raise UserError(
                        f"the {side} side {commit.short} did not run in step {self.steps}; "
                        f"see the servers' logs under {self.measurer.folder}"
                    )
            if middle and not measured(runs, middle):
                assert mid is not None
                self._skip(mid, "its server did not run (see its logs)")
                return "skip"
            decided = self._decide(runs, good, middle, bad)
            self.say(f"  {repeats} repeats a side in {took:.0f} s: {decided or 'not decided'}")
            if decided or repeats + self.batch > self.max_repeats:
                return decided
            self.say(f"  measuring {self.batch} more repeats a side")

    def _judge(self, runs: list[Run], base: Commit, new: Commit) -> Verdict:
        found = verdict(runs, base, new, self.metric, self.threshold)
        self.pairs[(base.sha, new.sha)] = found
        self.say(f"  {new.short} against {base.short}: {found.describe()}")
        return found

    def _decide(self, runs: list[Run], good: Commit, mid: Commit | None, bad: Commit) -> str | None:
        regression = self._judge(runs, good, bad)
        if mid is None:
            return "bad" if regression.worse else None
        if self._judge(runs, good, mid).worse:
            return "bad"
        if self._judge(runs, mid, bad).worse:
            return "good"
        return None

    def _found(self, lo: int, hi: int) -> Outcome:
        commit = self.line[hi]
        change = self.pairs.get((self.line[lo].sha, commit.sha))
        return Outcome(
            f"first bad commit: {commit.sha} {commit.subject}",
            ExitCode.OK,
            commit,
            change,
            self.steps,
            self._skipped_commits(),
        )

    def _ambiguous(self, lo: int, hi: int) -> Outcome:
        between = [self.line[i] for i in range(lo + 1, hi + 1)]
        return Outcome(
            "the first bad commit is one of (the others between could not be measured): "
            + ", ".join(str(c) for c in between),
            ExitCode.NOT_JUDGED,
            steps=self.steps,
            skipped=self._skipped_commits(),
        )

    def _undecided(self, lo: int, hi: int, first: bool) -> Outcome:
        good, bad = self.line[lo], self.line[hi]
        regression = self.pairs.get((good.sha, bad.sha))
        if first and regression is not None and not regression.worse:
            return Outcome(
                f"no regression between good {good.short} and bad {bad.short} in "
                f"{self.metric}: {regression.describe()}",
                ExitCode.OK,
                steps=self.steps,
            )
        return Outcome(
            f"could not decide after {self.max_repeats} repeats a side: the first bad "
            f"commit is after {good} and at or before {bad}",
            ExitCode.NOT_JUDGED,
            steps=self.steps,
            skipped=self._skipped_commits(),
        )

    def _skipped_commits(self) -> list[Commit]:
        return [self.line[i] for i in sorted(self.skipped)]
