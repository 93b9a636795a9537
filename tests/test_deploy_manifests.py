"""The Kubernetes manifests in deploy/ agree with each other, with the image and with the app's settings.

A manifest that points a probe at a route the app does not serve, or a PodDisruptionBudget whose selector matches
no pod, applies without complaint and fails only during an outage; these checks catch that before.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from service_finder.config import Settings
from service_finder.main import create_app

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")


def _load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"deploy/{name} is not one YAML mapping"
    return document


DEPLOYMENT = _load("deployment.yaml")
POD = DEPLOYMENT["spec"]["template"]
API = next(c for c in POD["spec"]["containers"] if c["name"] == "api")


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def test_kustomization_lists_every_manifest_it_needs_and_each_parses() -> None:
    kustomization = _load("kustomization.yaml")
    kinds = {_load(name)["kind"] for name in kustomization["resources"]}
    assert kinds == {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    # The image the kustomization retags is the one the Deployment runs.
    assert {image["name"] for image in kustomization["images"]} == {API["image"].rsplit(":", 1)[0]}


def test_probes_point_at_the_apps_health_routes() -> None:
    assert API["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert API["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert API["startupProbe"]["httpGet"]["path"] == "/healthz"
    served = set(create_app(Settings()).openapi()["paths"])
    assert {"/readyz", "/healthz"} <= served
    named_ports = {port["name"] for port in API["ports"]}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert API[probe]["httpGet"]["port"] in named_ports, probe


def test_the_container_runs_as_non_root_on_a_read_only_filesystem() -> None:
    pod_security = POD["spec"]["securityContext"]
    container_security = API["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert container_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] != 0
    # The same unprivileged user the image declares.
    useradd = re.search(r"useradd\b.*--uid (\d+)", DOCKERFILE)
    assert useradd is not None, "the Dockerfile creates no user with a fixed uid"
    assert pod_security["runAsUser"] == int(useradd.group(1))
    assert re.search(r"^USER finder$", DOCKERFILE, re.MULTILINE)
    assert container_security["readOnlyRootFilesystem"] is True
    assert container_security["allowPrivilegeEscalation"] is False
    assert container_security["capabilities"]["drop"] == ["ALL"]
    # With a read-only root, the SQLite directory and /tmp must be writable volumes.
    mounts = {mount["mountPath"]: mount["name"] for mount in API["volumeMounts"]}
    empty_dirs = {volume["name"] for volume in POD["spec"]["volumes"] if "emptyDir" in volume}
    assert mounts.keys() >= {"/app/var", "/tmp"}
    assert {mounts["/app/var"], mounts["/tmp"]} <= empty_dirs


def test_the_database_url_comes_from_a_secret_not_the_manifests() -> None:
    env = {item["name"]: item for item in API["env"]}
    assert env["SERVICE_FINDER_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"] == "url"
    assert "value" not in env["SERVICE_FINDER_DATABASE_URL"]
    config = _load("configmap.yaml")["data"]
    assert "SERVICE_FINDER_DATABASE_URL" not in config


def test_the_configmap_is_accepted_by_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _load("configmap.yaml")["data"]
    assert all(key.startswith("SERVICE_FINDER_") for key in config)
    known = {f"SERVICE_FINDER_{name.upper()}" for name in Settings.model_fields}
    assert set(config) <= known, f"settings the app does not read: {sorted(set(config) - known)}"
    for key, value in config.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.environment == "production"
    assert settings.debug is False
    assert settings.trusted_proxies  # listed, and not a wildcard: Settings refuses 0.0.0.0/0
    assert settings.index_poll_seconds == float(config["SERVICE_FINDER_INDEX_POLL_SECONDS"])


def test_the_service_reaches_the_port_the_image_serves_on() -> None:
    service = _load("service.yaml")
    assert _matches(service["spec"]["selector"], POD["metadata"]["labels"])
    ports = {port["name"]: port["containerPort"] for port in API["ports"]}
    exposed = re.search(r"^EXPOSE (\d+)$", DOCKERFILE, re.MULTILINE)
    assert exposed is not None
    command = API["command"]
    served = int(command[command.index("--port") + 1])
    for port in service["spec"]["ports"]:
        target = port["targetPort"]
        number = ports[target] if isinstance(target, str) else target
        assert number == served == int(exposed.group(1))


def test_the_pdb_and_the_autoscaler_target_the_deployment() -> None:
    labels = POD["metadata"]["labels"]
    assert _matches(DEPLOYMENT["spec"]["selector"]["matchLabels"], labels)
    pdb = _load("pdb.yaml")
    assert _matches(pdb["spec"]["selector"]["matchLabels"], labels)
    hpa = _load("hpa.yaml")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", DEPLOYMENT["metadata"]["name"])
    # The budget must leave something to evict, and the autoscaler must never go below what the budget keeps.
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["minAvailable"]
    assert hpa["spec"]["minReplicas"] >= 2


def test_shutdown_is_given_time_to_finish_in_flight_requests() -> None:
    cli = (REPO / "service_finder" / "cli.py").read_text(encoding="utf-8")
    graceful = re.search(r"timeout_graceful_shutdown=(\d+)", cli)
    assert graceful is not None, "service-finder serve sets no graceful shutdown timeout"
    pre_stop = API["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert POD["spec"]["terminationGracePeriodSeconds"] > int(pre_stop[1]) + int(graceful.group(1))
    assert DEPLOYMENT["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_the_migration_job_runs_the_same_image_against_the_same_database() -> None:
    job = _load("migrate-job.yaml")
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["service-finder", "db", "upgrade"]
    assert container["image"] == API["image"]
    env = {item["name"]: item for item in container["env"]}
    api_env = {item["name"]: item for item in API["env"]}
    assert env["SERVICE_FINDER_DATABASE_URL"] == api_env["SERVICE_FINDER_DATABASE_URL"]
    assert job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_image_installs_only_from_the_hashed_lock() -> None:
    assert re.search(r"uv pip sync .*--require-hashes .*requirements\.lock", DOCKERFILE)
    assert re.search(r"pip install .*--require-hashes -r requirements-bootstrap\.txt", DOCKERFILE)
    # The project itself goes in without resolving anything new, nor fetching its build backend: an isolated build
    # downloaded whatever setuptools PyPI offered, unpinned and unhashed. It is pinned, with hashes, in the bootstrap.
    assert re.search(r"uv pip install .*--no-deps --no-build-isolation", DOCKERFILE)
    assert re.search(
        r"uv pip install .*--no-deps --no-build-isolation", (REPO / "Makefile").read_text(encoding="utf-8")
    )
    backend = re.search(r'requires = \["(\w+)', (REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert backend is not None
    assert re.search(rf"^{backend.group(1)}==", (REPO / "requirements-bootstrap.txt").read_text(encoding="utf-8"), re.M)
    for lock in ("requirements.lock", "requirements-bootstrap.txt"):
        text = (REPO / lock).read_text(encoding="utf-8")
        pins = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==\S+", text, re.MULTILINE)
        assert pins, f"{lock} pins nothing"
        # Every pinned requirement is followed by at least one hash before the next one starts.
        blocks = re.split(r"^(?=[A-Za-z0-9_.\-\[\]]+==)", text, flags=re.MULTILINE)[1:]
        unhashed = [block.split()[0] for block in blocks if "--hash=sha256:" not in block]
        assert not unhashed, f"{lock} pins without hashes: {unhashed}"
