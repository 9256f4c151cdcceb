"""deploy/prometheus: promtool's checks and unit tests, the metric names the rules use, and one
rule firing and resolving in a real Prometheus that scrapes a real ingest flow."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.publisher import publish
from flows.runner import start_flow
from schemas.settings import Settings
from tests.conftest import free_port, use_flow_topic

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "alerts.yml"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
# The files that define metrics, and the flow's metrics the rules may name.
METRIC_SOURCES = ("flows/metrics.py", "flows/datahub/metrics.py", "deploy/exporter.py")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool missing: deploy/stack.sh install puts it there"
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60
    )


@needs_promtool
@pytest.mark.parametrize(
    "args",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "alerts_test.yml"),
    ],
    ids=["check-config", "check-rules", "test-rules"],
)
def test_promtool(args: tuple[str, ...]) -> None:
    done = promtool(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def test_every_metric_a_rule_names_is_served_by_elflow() -> None:
    served = set()
    for source in METRIC_SOURCES:
        served |= set(re.findall(r'"(elflow_[a-z_]+)"', (ROOT / source).read_text()))
    assert served, "no metric names found"
    for rule in rules():
        for name in re.findall(r"\belflow_[a-z_]+", rule["expr"]):
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            assert name in served or base in served, f"{rule['alert']}: {name} is served nowhere"


def test_every_rule_has_a_severity_and_a_summary() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    for rule in rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]


# ------------------------------------------------------------------ a live Prometheus


def minutes_as_seconds(text: str) -> str:
    """The rules with every duration in minutes read as seconds: the same expressions on a
    time scale a test can wait for (`[10m]` -> `[10s]`, `for: 2m` -> `for: 2s`)."""
    return re.sub(r"\b(\d+)m\b", r"\1s", text)


class LivePrometheus:
    def __init__(self, directory: Path, flow_port: int) -> None:
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "alerts.yml").write_text(minutes_as_seconds(RULES.read_text()))
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["alerts.yml"],
            "scrape_configs": [
                {
                    "job_name": "elflow-flow",
                    "static_configs": [{"targets": [f"127.0.0.1:{flow_port}"]}],
                }
            ],
        }
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
        assert PROMETHEUS is not None
        self.log = (directory / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
            return json.loads(r.read())["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        from urllib.parse import quote

        result: list[dict[str, Any]] = self.get(f"/api/v1/query?query={quote(expr)}")["result"]
        return result

    def alerts(self, name: str) -> list[dict[str, Any]]:
        return [a for a in self.get("/api/v1/alerts")["alerts"] if a["labels"]["alertname"] == name]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


def wait_for(what: str, check: Callable[[], bool], timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def live_flow(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> Iterator[tuple[Settings, list[subprocess.Popen[bytes]]]]:
    cfg = use_flow_topic(monkeypatch, db, tmp_path / "recovery", "alerts", metrics_port=free_port())
    procs = start_flow(cfg, until_end=False, log_dir=tmp_path)  # tailing: runs until stopped
    try:
        yield cfg, procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)


@pytest.mark.services
@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus missing: deploy/stack.sh install")
def test_a_real_prometheus_fires_and_resolves_on_a_live_flow(
    live_flow: tuple[Settings, list[subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    cfg, procs = live_flow
    prom = LivePrometheus(tmp_path / "prometheus", cfg.metrics_port)
    try:
        wait_for(
            "Prometheus scraping the flow",
            lambda: [s["value"][1] for s in prom.query('up{job="elflow-flow"}')] == ["1"],
        )
        # The dead-letter rule looks back 10 "minutes" (seconds here) at the target.
        time.sleep(11)
        assert prom.alerts("ElflowDeadLettersIncreasing") == []
        publish(cfg, cfg.readings_topic, [(b"bad", b"not a document")], partitions=2)

        def firing(name: str, **labels: str) -> bool:
            return any(
                a["state"] == "firing" and all(a["labels"].get(k) == v for k, v in labels.items())
                for a in prom.alerts(name)
            )

        wait_for(
            "ElflowDeadLettersIncreasing to fire",
            lambda: firing("ElflowDeadLettersIncreasing", reason="unparseable"),
        )
        wait_for(
            "ElflowDeadLettersIncreasing to resolve",
            lambda: prom.alerts("ElflowDeadLettersIncreasing") == [],
        )
        # The flow ends: up 0 for 2 "minutes" fires ElflowFlowDown.
        assert prom.alerts("ElflowFlowDown") == []
        for p in procs:
            p.kill()
            p.wait(timeout=30)
        wait_for("ElflowFlowDown to fire", lambda: firing("ElflowFlowDown", job="elflow-flow"))
    finally:
        prom.stop()
