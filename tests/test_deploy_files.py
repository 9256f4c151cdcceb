"""The container image and compose files, checked statically (no image registry is reachable
here, so they are never built or run in this project's tests): every file, directory, port,
command and ELFLOW_* variable they name exists in the project; images are pinned; passwords
come only from the environment; each service connects as its own role. Also `elflow stack`
from an installed copy of the package."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from psycopg.conninfo import conninfo_to_dict

from deploy.cli import build_parser
from deploy.handlers_ops import stack_root
from schemas.settings import ConfigError, Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SETTINGS = {f"ELFLOW_{name.upper()}" for name in Settings.model_fields}
ELFLOW_IMAGE_SERVICES = ("roles", "migrate", "flow", "exporter", "datahub-pull")
STACK_VARIABLES = ("ELFLOW_PG_PORT", "ELFLOW_KAFKA_PORT", "ELFLOW_BROKER", "ELFLOW_LOCAL_DIR")


# ------------------------------------------------------------------ Dockerfile


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def instructions(name: str) -> list[str]:
    return [rest for word, rest in dockerfile() if word == name]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in instructions("ENV"):
        for item in shlex.split(rest):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def test_the_image_is_a_pinned_slim_python_311() -> None:
    (base,) = instructions("FROM")
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-bookworm)?", base), base


def test_the_image_runs_elflow_as_a_non_root_user() -> None:
    (user,) = instructions("USER")
    assert user not in {"root", "0"}
    assert any("useradd" in run and user in run for run in instructions("RUN"))
    assert [json.loads(e) for e in instructions("ENTRYPOINT")] == [["elflow"]]
    # Every instruction after USER runs as that user: nothing needs root there.
    words = [word for word, _rest in dockerfile()]
    assert "RUN" not in words[words.index("USER") :]


def test_the_image_installs_the_pinned_package_and_the_ubl_rules() -> None:
    runs = " ".join(instructions("RUN"))
    assert "pip install --constraint deploy/constraints.txt ." in runs
    assert "python -m deploy.ubl_rules" in runs
    assert runs.index("pip install") < runs.index("deploy.ubl_rules")


def test_every_file_the_image_copies_exists_and_is_in_the_build_context() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore  # everything not listed with ! is left out
    for rest in instructions("COPY"):
        *sources, _target = shlex.split(rest)
        for source in sources:
            assert (ROOT / source).exists(), source
            top = source.split("/")[0]
            assert top in allowed, f"{source} is excluded by Dockerfile.dockerignore"


def test_the_image_settings_are_elflow_settings() -> None:
    env = image_env()
    for key in env:
        if key.startswith("ELFLOW_"):
            assert key in SETTINGS, f"{key} is not a field of schemas.settings.Settings"
    assert env["ELFLOW_METRICS_ADDRESS"] == "0.0.0.0"
    assert Path(env["ELFLOW_RECOVERY_DIR"]).is_absolute()
    volumes = [v for rest in instructions("VOLUME") for v in json.loads(rest)]
    assert env["ELFLOW_RECOVERY_DIR"] in volumes
    assert instructions("EXPOSE") == [env["ELFLOW_METRICS_PORT"]]


def test_the_constraints_pin_every_dependency_inside_its_range() -> None:
    pins: dict[str, str] = {}
    for line in (DEPLOY / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pins, f"{name} is not pinned in deploy/constraints.txt"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]}"


# ------------------------------------------------------------------ compose


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def env_of(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in services()[service].get("environment", {}).items()}


def test_every_image_is_pinned() -> None:
    for name, service in services().items():
        image = service["image"]
        _repository, _, tag = image.partition(":")
        assert tag and tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: {image}"
    images = {name: s["image"].split(":")[0] for name, s in services().items()}
    assert images["db"] == "timescale/timescaledb"  # Community edition
    assert images["kafka"] == "apache/kafka"
    assert images["prometheus"] == "prom/prometheus"
    assert images["grafana"].startswith("grafana/grafana")


def test_the_elflow_services_are_the_image_built_from_deploy_dockerfile() -> None:
    for name in ELFLOW_IMAGE_SERVICES:
        build = services()[name]["build"]
        context = (DEPLOY / build["context"]).resolve()
        assert context == ROOT, name
        assert (context / build["dockerfile"]) == DEPLOY / "Dockerfile", name


def test_every_elflow_command_parses() -> None:
    parser = build_parser()
    for name in ELFLOW_IMAGE_SERVICES:
        args = parser.parse_args(services()[name]["command"])
        assert isinstance(args, argparse.Namespace), name


def test_every_elflow_variable_is_a_setting() -> None:
    for name, service in services().items():
        for key in service.get("environment", {}):
            if key.startswith("ELFLOW_"):
                assert key in SETTINGS, f"{name}: {key} is not a Settings field"


def test_every_mounted_file_exists() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source}"
            else:
                assert source in compose()["volumes"], f"{name}: volume {source} not declared"


def test_the_recovery_store_is_a_volume_at_the_configured_dir() -> None:
    flow_env = env_of("flow")
    mounts = dict(v.split(":")[1::-1] for v in services()["flow"]["volumes"])
    assert mounts[flow_env["ELFLOW_RECOVERY_DIR"]] in compose()["volumes"]


def test_jobs_run_in_order() -> None:
    s = services()
    assert s["roles"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert s["migrate"]["depends_on"]["roles"]["condition"] == "service_completed_successfully"
    assert s["flow"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert s["flow"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in ("db", "kafka", "flow", "prometheus", "grafana"):
        assert s[name]["healthcheck"]["test"], name


def test_passwords_come_only_from_the_environment() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    for name, service in services().items():
        for key, value in service.get("environment", {}).items():
            if "PASSWORD" in key:
                assert re.fullmatch(r"\$\{[A-Z_]+(:[?-][^}]*)?\}", str(value)), f"{name}: {key}"
    for url in re.findall(r"postgresql://\S+", text):
        assert conninfo_to_dict(url).get("password") is None, url
    # Every variable compose interpolates is listed (without a value) in the example .env.
    example = (DEPLOY / "compose" / "example.env").read_text()
    listed = set(re.findall(r"^([A-Z_]+)=", example, re.MULTILINE))
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    assert used <= listed, used - listed
    assert not re.search(r"PASSWORD=\S", example)


def _user(url: str) -> str:
    return str(conninfo_to_dict(url)["user"])


def test_each_service_connects_as_its_own_role() -> None:
    # migrate: the owner (ELFLOW_DATABASE_URL as it is); roles: the superuser.
    assert _user(env_of("migrate")["ELFLOW_DATABASE_URL"]) == "elflow"
    assert "ELFLOW_MIGRATE_DATABASE_URL" not in env_of("migrate")
    assert env_of("migrate")["PGPASSWORD"] == "${DB_OWNER_PASSWORD:?set DB_OWNER_PASSWORD}"
    assert _user(env_of("roles")["ELFLOW_ADMIN_DATABASE_URL"]) == "postgres"
    # the flow: elflow_ingest, with that role's password only
    assert _user(env_of("flow")["ELFLOW_INGEST_DATABASE_URL"]) == "elflow_ingest"
    assert "DB_INGEST_PASSWORD" in env_of("flow")["PGPASSWORD"]
    # the exporter reads as elflow_grafana (the default user of the job `grafana`)
    assert "DB_GRAFANA_PASSWORD" in env_of("exporter")["PGPASSWORD"]
    assert _user(env_of("datahub-pull")["ELFLOW_DATAHUB_DATABASE_URL"]) == "elflow_datahub"
    init = (DEPLOY / "compose" / "initdb-roles.sh").read_text()
    for role, variable in (
        ("elflow", "DB_OWNER_PASSWORD"),
        ("elflow_ingest", "DB_INGEST_PASSWORD"),
        ("elflow_grafana", "DB_GRAFANA_PASSWORD"),
    ):
        assert f"create_role {role} {variable}" in init
        assert variable in env_of("db")


def _healthcheck_port(service: str) -> int:
    match = re.search(r"127\.0\.0\.1:(\d+)/", " ".join(services()[service]["healthcheck"]["test"]))
    assert match, service
    return int(match[1])


def test_prometheus_scrapes_the_ports_the_services_serve() -> None:
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: target
        for job in prometheus["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    flow_port = int(env_of("flow")["ELFLOW_METRICS_PORT"])
    assert targets["elflow-flow"] == f"flow:{flow_port}"
    assert _healthcheck_port("flow") == flow_port
    assert (
        targets["elflow-datahub"]
        == f"datahub-pull:{env_of('datahub-pull')['ELFLOW_DATAHUB_METRICS_PORT']}"
    )
    exporter = services()["exporter"]["command"]
    assert targets["elflow-exporter"] == f"exporter:{exporter[exporter.index('--port') + 1]}"
    mounted = {v.split(":")[1] for v in services()["prometheus"]["volumes"]}
    config = next(
        a.split("=", 1)[1] for a in services()["prometheus"]["command"] if "config.file" in a
    )
    assert config in mounted
    for rule_file in prometheus["rule_files"]:
        assert str(Path(config).parent / rule_file) in mounted
        assert (DEPLOY / "prometheus" / rule_file).is_file()


def test_grafana_gets_the_datasources_the_dashboards_use() -> None:
    mounts = dict(v.split(":")[:2][::-1] for v in services()["grafana"]["volumes"])
    datasources = yaml.safe_load(
        (DEPLOY / mounts["/etc/grafana/provisioning/datasources/elflow.yaml"]).read_text()
    )
    uids = {d["uid"] for d in datasources["datasources"]}
    for dashboard in (DEPLOY / "grafana" / "dashboards").glob("*.json"):
        used = set(re.findall(r'"uid":\s*"(elflow-[a-z]+)"', dashboard.read_text()))
        used.discard(json.loads(dashboard.read_text())["uid"])
        assert used <= uids, dashboard.name
    providers = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "elflow.yaml").read_text()
    )
    path = providers["providers"][0]["options"]["path"]
    assert f"/usr/share/grafana/{path}" in mounts  # relative to Grafana's working directory
    assert mounts[f"/usr/share/grafana/{path}"] == "./grafana/dashboards"


# ------------------------------------------------------------------ elflow stack, installed


def test_elflow_stack_finds_the_checkout_around_the_current_directory(tmp_path: Path) -> None:
    site = tmp_path / "site-packages" / "deploy"
    site.mkdir(parents=True)
    assert stack_root(ROOT / "tests", site) == ROOT
    assert stack_root(tmp_path, DEPLOY) == ROOT  # editable install: its own checkout
    with pytest.raises(ConfigError, match="run it inside one"):
        stack_root(tmp_path, site)


@pytest.mark.services
def test_an_installed_elflow_reports_the_running_stack(tmp_path: Path) -> None:
    """Installed (not editable), the package and its stack.sh sit in site-packages, away from
    the checkout (a copy of the packages stands for `pip install --target`, which takes 20 s);
    run from the checkout, it must still see the stack the test suite runs against."""
    site = tmp_path / "site"
    for package in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]:
        if "." not in package:
            shutil.copytree(
                ROOT / package, site / package, ignore=shutil.ignore_patterns("__pycache__")
            )
    assert (site / "deploy" / "stack.sh").is_file()
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, deploy.cli; sys.exit(deploy.cli.main())",
            "stack",
            "status",
        ],
        cwd=ROOT / "tests",
        env={
            "PYTHONPATH": str(site),
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            # the ports and directory of the stack these tests run against
            **{k: v for k, v in os.environ.items() if k in STACK_VARIABLES},
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "postgresql: running" in run.stdout
