"""A git repository's history as ``bisect`` and ``history`` need it: revisions checked
and resolved, the commits of a range that touch the package's code, and a commit's
tree written out (``git archive``) into a cache folder keyed by its sha, so that it can
be installed as an environment's source tree like any checkout.

Every git command is ``git -C REPO ...`` with its output read; none changes the
repository (no checkout, no worktree), so bisecting a clone one is working in is safe.
"""

from __future__ import annotations

import configparser
import io
import os
import shutil
import subprocess
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bench.deploy.environments import cache_root
from bench.errors import UserError

# Reading a big repository's log takes well under this.
GIT_TIMEOUT_S = 120.0
# Top-level folders that hold a package's tests or docs, never its code.
NOT_CODE = ("test", "tests", "testing", "docs", "doc", "examples", "benchmarks", "scripts")


@dataclass(frozen=True)
class Commit:
    """One commit: its full sha and the first line of its message."""

    sha: str
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:10]

    def __str__(self) -> str:
        return f"{self.short} {self.subject}"


class Repo:
    """A git repository, checked to be one when made."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().resolve()
        if not self.path.exists():
            raise UserError(f"--repo {path}: no such folder; give a clone of the package's repo")
        done = self._git(["rev-parse", "--git-dir"], check=False)
        if done.returncode:
            raise UserError(
                f"--repo {path}: not a git repository; give a clone (git clone URL) of the "
                "package whose commits to measure"
            )

    def _git(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                ["git", "-C", str(self.path), *args],
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT_S,
            )
        except FileNotFoundError:
            raise UserError("git is not installed: install it (apt-get install git)") from None
        if check and done.returncode:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
            raise UserError(f"git {' '.join(args)} in {self.path}: {lines[-1]}")
        return done

    def resolve(self, rev: str, option: str) -> Commit:
        """The commit ``rev`` names (a sha, a tag, a branch, ``HEAD~3``)."""
        done = self._git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], check=False)
        if done.returncode or not done.stdout.strip():
            raise UserError(
                f"{option} {rev}: unknown revision in {self.path}; give a sha, tag or "
                "branch it has (git log --oneline, git tag)"
            )
        return self.commit(done.stdout.strip())

    def commit(self, sha: str) -> Commit:
        subject = self._git(["log", "-1", "--format=%s", sha]).stdout.strip()
        return Commit(sha, subject)

    def is_ancestor(self, old: Commit, new: Commit) -> bool:
        done = self._git(["merge-base", "--is-ancestor", old.sha, new.sha], check=False)
        return done.returncode == 0

    def touching(self, old: Commit, new: Commit, path: str) -> list[Commit]:
        """The commits after ``old`` up to ``new`` on ``new``'s first-parent line that
        change something under ``path``, oldest first. First parents: each is a state
        the main branch was in, as a merged pull request left it."""
        span = f"{old.sha}..{new.sha}"
        out = self._git(["log", "--first-parent", "--reverse", "--format=%H %s", span, "--", path])
        found = (line.partition(" ") for line in out.stdout.splitlines() if line)
        return [Commit(sha, subject) for sha, _, subject in found]

    def tags(self, old: Commit, new: Commit) -> list[Commit]:
        """The tagged commits after ``old`` up to ``new``, oldest first."""
        tagged = ["--simplify-by-decoration", "--decorate-refs=refs/tags/", "--format=%H %D"]
        out = self._git(["log", "--reverse", *tagged, f"{old.sha}..{new.sha}"]).stdout
        shas = [line.split(" ", 1)[0] for line in out.splitlines() if "tag: " in line]
        return [self.commit(sha) for sha in shas]

    def package_path(self, commit: Commit) -> str:
        """The folder of the package's code: the one top-level (or ``src/``) folder with an
        ``__init__.py`` that is not tests or docs; ``--path`` when there is not one."""
        names = self._git(["ls-tree", "-r", "--name-only", commit.sha]).stdout.splitlines()
        found = sorted(
            {
                str(Path(name).parent)
                for name in names
                if Path(name).name == "__init__.py"
                and (
                    len(Path(name).parts) == 2
                    or (len(Path(name).parts) == 3 and Path(name).parts[0] == "src")
                )
                and Path(name).parts[-2] not in NOT_CODE
                and not Path(name).parts[-2].startswith((".", "_", "test"))
            }
        )
        if len(found) != 1:
            what = f"found {', '.join(found)}" if found else "found none"
            raise UserError(
                f"--repo {self.path}: cannot tell which folder is the package's code "
                f"({what} at {commit.short}); name it with --path FOLDER"
            )
        return found[0]

    def tree(self, commit: Commit, root: Path) -> Path:
        """``commit``'s files in ``root/<sha>``, written once (moved into place whole)."""
        folder = root / commit.sha
        if folder.is_dir():
            return folder
        root.mkdir(parents=True, exist_ok=True)
        building = root / f"{commit.sha}.building-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        archive = subprocess.run(
            ["git", "-C", str(self.path), "archive", "--format=tar", commit.sha],
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
        )
        if archive.returncode:
            raise UserError(f"git archive {commit.short}: {archive.stderr.decode().strip()}")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(building, filter="data")
        os.replace(building, folder)
        return folder


def distribution(tree: Path) -> str | None:
    """The distribution a source tree installs as (pyproject's or setup.cfg's name), so
    that the pins of everything else leave it out; ``None`` if neither says."""
    try:
        project = tomllib.loads((tree / "pyproject.toml").read_text()).get("project", {})
        if isinstance(project, dict) and isinstance(project.get("name"), str):
            return str(project["name"])
    except (OSError, tomllib.TOMLDecodeError):
        pass
    config = configparser.ConfigParser(interpolation=None)
    try:
        config.read(tree / "setup.cfg")
    except configparser.Error:
        return None
    return config.get("metadata", "name", fallback=None)


def tree_cache() -> Path:
    """Where commits' trees are written: in the cache of the environments built from
    them (whose own folders are named by a hash, never ``trees``)."""
    return cache_root() / "trees"
