"""Environments end to end: the server runs from each one's interpreter (pins installed
from the package index into a cached virtualenv, with uv, or with venv and pip), repeats
alternate across them, one that cannot be built fails its points alone, compare works
within the run, and a source tree is installed and its site served."""

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import run_matrix

from bench.cli import main
from bench.deploy import environments
from bench.scenario import CustomEnv

OLD = ["channels==4.1.0", "daphne==4.1.2"]


@pytest.mark.timeout(420)
def test_two_environments_in_one_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHANBENCH_ENV_CACHE", str(tmp_path / "envs"))
    envs = f"""[envs.old]
requirements = {json.dumps(OLD)}
[envs.broken]
requirements = ["channels==0.0.0"]
"""
    code, result = run_matrix(
        tmp_path,
        """env = ["current", "old", "broken"]
consumer = "async"
clients = 4
rooms = 2
warmup_s = 0.3
duration_s = 1.0
drain_quiet_s = 0.3
repeats = 2
""",
        head=envs,
    )
    assert code == 3  # the broken environment's points failed; the others ran
    points = {p["point"]["env"]: p for p in result["points"]}
    current, old, broken = points["current"], points["old"], points["broken"]
    assert old["software"]["packages"]["channels"] == "4.1.0"
    assert old["software"]["packages"]["daphne"] == "4.1.2"
    assert current["software"]["packages"]["channels"] != "4.1.0"
    assert old["software"]["executable"].startswith(str(tmp_path / "envs"))
    for point in (current, old):
        assert [r["status"] for r in point["repeats"]] == ["ok", "ok"]
    reasons = {r["reason"] for r in broken["repeats"]}
    assert len(reasons) == 1 and "environment broken" in reasons.pop()
    # Repeat 0 runs current before old, repeat 1 the other way round.
    start = {(e, r["repeat"]): r["started_at"] for e, p in points.items() for r in p["repeats"]}
    assert start[("current", 0)] < start[("old", 0)]
    assert start[("old", 1)] < start[("current", 1)]
    # Compare within the run: a verdict (2 repeats: uncertain at best) and an exit code.
    (path,) = (tmp_path / "results").glob("*.json")
    capsys.readouterr()
    assert main(["compare", str(path), "--between", "env=current,old"]) in (0, 1)
    assert "[env=old]" in capsys.readouterr().out


@pytest.mark.timeout(420)
def test_an_environment_installs_the_server_kind_its_points_use(tmp_path, monkeypatch):
    """``server = "uvicorn"`` in an environment whose pins name only Channels: the
    environment installs what Uvicorn declares, its server runs from there, and the point
    records Uvicorn's version as that interpreter reports it."""
    monkeypatch.setenv("CHANBENCH_ENV_CACHE", str(tmp_path / "envs"))
    code, result = run_matrix(
        tmp_path,
        """env = ["pinned"]
server = "uvicorn"
consumer = "async"
clients = 2
warmup_s = 0.2
duration_s = 0.5
repeats = 1
""",
        head='[envs.pinned]\nrequirements = ["channels==4.2.0"]\n',
    )
    assert code == 0, result["points"][0]["repeats"]
    (point,) = result["points"]
    software = point["software"]
    assert software["executable"].startswith(str(tmp_path / "envs"))
    assert software["packages"]["channels"] == "4.2.0"
    assert software["packages"]["uvicorn"] and software["packages"]["websockets"]
    assert point["server_command"][1:3] == ["-m", "uvicorn"]
    assert point["repeats"][0]["status"] == "ok"


CONSUMERS = Path(__file__).resolve().parents[2] / "consumers"


def _source_tree(root: Path) -> Path:
    """A checkout of the kind a CI gate's base is: a package (its pyproject.toml) that
    holds a copy of the chat site, whose ASGI module imports the package and writes down
    which file was served."""
    tree = root / "base"
    shutil.copytree(CONSUMERS, tree / "consumers", ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "pyproject.toml").write_text(
        '[project]\nname = "chanbench-probe"\nversion = "0.1"\n'
        '[tool.setuptools]\npy-modules = ["chanbench_probe"]\n'
        '[build-system]\nrequires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n'
    )
    (tree / "chanbench_probe.py").write_text("SERVED = 'probe'\n")
    with (tree / "consumers" / "mysite" / "asgi.py").open("a") as asgi:
        asgi.write(
            "\nimport chanbench_probe  # noqa: E402\n"
            "with open(os.environ['CHANBENCH_PROBE_MARK'], 'a') as _mark:\n"
            "    _mark.write(chanbench_probe.SERVED + ' ' + __file__ + '\\n')\n"
        )
    return tree


@pytest.mark.timeout(420)
def test_a_source_tree_is_installed_and_its_site_served(tmp_path, monkeypatch):
    """``--env base=PATH``: the tree is installed (editable, with venv and pip here) and
    its own consumers/ is what the server imports; chanbench's own serves ``current``."""
    monkeypatch.setenv("CHANBENCH_ENV_CACHE", str(tmp_path / "envs"))
    monkeypatch.setenv("CHANBENCH_ENV_INSTALLER", "pip")
    mark = tmp_path / "served.txt"
    monkeypatch.setenv("CHANBENCH_PROBE_MARK", str(mark))
    tree = _source_tree(tmp_path)
    matrix = 'consumer = "async"\nclients = 2\nwarmup_s = 0.2\nduration_s = 0.5\nrepeats = 1\n'
    code, result = run_matrix(tmp_path, matrix, "--env", f"base={tree}")
    assert code == 0
    (point,) = result["points"]
    assert point["point"]["env"] == "base"
    assert point["software"]["site"]["path"] == str(tree / "consumers")
    assert point["software"]["executable"].startswith(str(tmp_path / "envs"))
    assert result["scenario"]["envs"]["base"]["source"] == str(tree)
    served = set(mark.read_text().splitlines())
    assert served == {f"probe {tree / 'consumers' / 'mysite' / 'asgi.py'}"}


def test_an_environment_is_keyed_by_what_its_tree_declares(tmp_path):
    """Editing a tree's code keeps its environment (installed editable); editing what it
    declares it needs builds a new one."""
    tree = _source_tree(tmp_path)
    env = CustomEnv(source=str(tree))
    key = environments.env_key(env)
    (tree / "chanbench_probe.py").write_text("SERVED = 'edited'\n")
    assert environments.env_key(env) == key
    with (tree / "pyproject.toml").open("a") as pyproject:
        pyproject.write("# a new dependency\n")
    assert environments.env_key(env) != key
    assert environments.env_key(CustomEnv(("channels==4.2.0",), source=str(tree))) != key


def test_a_cached_environment_is_reused(tmp_path):
    """The second use of the same pins installs nothing: the cache folder is ready."""
    env = CustomEnv(tuple(OLD))
    folder = tmp_path / environments.env_key(env)
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").write_text("")
    (folder / environments.READY).write_text("[]")
    log = tmp_path / "env.log"
    built = environments.ready("old", env, log, root=tmp_path)
    assert built == environments.Built(str(folder / "bin" / "python"))
    assert not log.exists()  # no venv, no pip


def test_two_runs_needing_one_environment_build_it_once(tmp_path, monkeypatch):
    """The second waits for the first's build (a lock beside the cache folder) and reuses
    it. The install is a stand-in that makes the interpreter's file and counts itself."""
    count = tmp_path / "installs"
    make = (
        "import os, sys, time; os.makedirs(sys.argv[1] + '/bin'); "
        "open(sys.argv[1] + '/bin/python', 'w').close(); "
        "open(sys.argv[2], 'a').write('x'); time.sleep(0.3)"
    )
    monkeypatch.setattr(
        environments,
        "_install_steps",
        lambda folder, packages: [[sys.executable, "-c", make, str(folder), str(count)]],
    )
    env = CustomEnv(tuple(OLD))

    def build(i: int) -> environments.Built:
        return environments.ready("old", env, tmp_path / f"log{i}", root=tmp_path / "envs")

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(build, range(2))
    assert first == second and Path(first.python).is_file()
    assert count.read_text() == "x"


def test_an_interpreter_by_path_is_checked(tmp_path):
    with pytest.raises(environments.EnvError) as exc:
        environments.ready("mine", CustomEnv(python=str(tmp_path / "nope")), tmp_path / "l")
    assert "is not an executable file" in str(exc.value)
    sh = os.path.realpath("/bin/sh")
    assert environments.ready("mine", CustomEnv(python=sh), tmp_path / "l").python == sh


def test_an_interpreter_by_path_lacking_its_server_kind_is_one_line(tmp_path):
    """Checked against what the kind declares: chanbench's own interpreter serves
    Uvicorn; a bare virtualenv's does not, and the line says what to install there."""
    mine = CustomEnv(python=sys.executable)
    assert environments.ready("mine", mine, tmp_path / "l", kinds={"uvicorn"}).python
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")])
    bare = str(tmp_path / "bare" / "bin" / "python")
    with pytest.raises(environments.EnvError) as exc:
        environments.ready("bare", CustomEnv(python=bare), tmp_path / "l", kinds={"uvicorn"})
    line = str(exc.value)
    assert "server = 'uvicorn' needs uvicorn>=0.30, websockets>=13" in line
    assert "pip install 'uvicorn>=0.30' 'websockets>=13'" in line and "\n" not in line


def test_a_tree_that_is_neither_package_nor_site_is_one_line(tmp_path):
    with pytest.raises(environments.EnvError) as exc:
        environments.ready("base", CustomEnv(source=str(tmp_path)), tmp_path / "l")
    assert "is neither a package" in str(exc.value) and "\n" not in str(exc.value)


def test_the_installer_is_uv_where_installed_unless_pip_is_asked(monkeypatch):
    monkeypatch.delenv("CHANBENCH_ENV_INSTALLER", raising=False)
    beside = Path(sys.executable).with_name("uv")
    assert environments.installer() == (shutil.which("uv") or str(beside))
    monkeypatch.setenv("CHANBENCH_ENV_INSTALLER", "pip")
    assert environments.installer() is None
