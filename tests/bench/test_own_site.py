"""A user's Django project found from its files (``--site``): its settings from
manage.py, its application from the settings, each gap one line that says what to give."""

from __future__ import annotations

import pytest
from helpers import one_error_line

from bench.cli import main
from bench.deploy.own_site import find
from bench.errors import UserError

MANAGE = 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")\n'


def project(tmp_path, manage: str | None = MANAGE, settings: str | None = None):
    if manage is not None:
        (tmp_path / "manage.py").write_text("import os\n" + manage)
    (tmp_path / "proj").mkdir()
    if settings is not None:
        (tmp_path / "proj" / "settings.py").write_text(settings)
    return tmp_path


def test_settings_from_manage_and_the_application_from_the_settings(tmp_path):
    site = find(str(project(tmp_path, settings='ASGI_APPLICATION = "proj.asgi.application"\n')))
    assert (site.dir, site.settings, site.asgi) == (
        str(tmp_path),
        "proj.settings",
        "proj.asgi:application",
    )


def test_what_is_given_wins(tmp_path):
    site = find(str(project(tmp_path, manage=None)), "other.asgi:app", "proj.prod")
    assert (site.settings, site.asgi) == ("proj.prod", "other.asgi:app")


@pytest.mark.parametrize(
    ("manage", "settings", "asgi", "said"),
    [
        (None, "", None, "give --settings"),
        (MANAGE, None, None, "give --asgi"),
        (MANAGE, "X = 1\n", None, "give --asgi"),
        (MANAGE, "", "proj.asgi.application", "give module:application"),
    ],
)
def test_what_cannot_be_found_is_one_line(tmp_path, manage, settings, asgi, said):
    with pytest.raises(UserError) as caught:
        find(str(project(tmp_path, manage, settings)), asgi)
    assert said in str(caught.value)


def test_a_site_whose_consumer_has_no_route_is_refused_before_anything(tmp_path, capsys):
    site = project(tmp_path, settings='ASGI_APPLICATION = "proj.asgi.application"\n')
    scenario = tmp_path / "s.toml"
    scenario.write_text('name = "s"\n[matrix]\nconsumer = ["sync", "async"]\n')
    assert main(["run", str(scenario), "--site", str(site), "--results-dir", str(tmp_path)]) == 2
    assert "[consumers.sync]" in one_error_line(capsys)
    assert main(["run", str(scenario), "--asgi", "a:b", "--results-dir", str(tmp_path)]) == 2
    assert "go with --site" in one_error_line(capsys)


def test_the_site_served_under_each_environment(tmp_path):
    from dataclasses import replace

    from bench.run.routes import served_site
    from bench.scenario import CustomEnv, Point, Scenario

    own = find(str(project(tmp_path, settings='ASGI_APPLICATION = "proj.asgi.application"\n')))
    checkout, plain = tmp_path / "checkout", tmp_path / "plain"
    for folder in (checkout, plain):
        folder.mkdir()
    (checkout / "manage.py").write_text(MANAGE)
    envs = {"change": CustomEnv(source=str(checkout)), "pins": CustomEnv(source=str(plain))}
    scenario = Scenario(site=own, envs=envs)
    assert served_site(scenario, Point(env="change"), "ignored") == str(checkout)
    assert served_site(scenario, Point(env="pins"), None) == own.dir  # no project at its top
    assert served_site(scenario, Point(), None) == own.dir
    assert served_site(replace(scenario, site=None), Point(), "env/consumers") == "env/consumers"


def test_a_layer_key_replaces_the_sites_channel_layers_only(tmp_path):
    import json

    from bench.deploy.site import ServerSettings
    from bench.scenario import Point

    own = find(str(project(tmp_path, settings='ASGI_APPLICATION = "proj.asgi.application"\n')))
    kept = ServerSettings(Point(), site_dir=own.dir, own=own).environ()
    assert kept["DJANGO_SETTINGS_MODULE"] == "proj.settings"
    assert "CHANBENCH_SITE_LAYER" not in kept
    env = ServerSettings(Point(capacity=321), site_dir=own.dir, own=own, site_layer=True).environ()
    assert env["DJANGO_SETTINGS_MODULE"] == "bench.deploy.site_layer_settings"
    assert env["CHANBENCH_USER_SETTINGS"] == "proj.settings"
    layer = json.loads(env["CHANBENCH_SITE_LAYER"])
    assert layer["BACKEND"] == "channels.layers.InMemoryChannelLayer"
    assert layer["CONFIG"]["capacity"] == 321
    assert env["PYTHONPATH"].split(":")[0] == own.dir  # the user's project first
