"""The Kubernetes manifests under deploy/kubernetes are valid for a pinned Kubernetes version
(its JSON schemas, strict: no unknown field, offline, from the `kubernetes-validate` package),
their config loads, and every command in them parses with frumious's own parser."""

from __future__ import annotations

import copy
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from frumious import config
from frumious.cli import build_parser
from frumious.storage.s3settings import read_s3
from frumious.storage.swiftsettings import ENVIRONMENT as SWIFT_ENVIRONMENT

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="the test extra is not installed: pip install -e '.[test]'"
)

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
# The schemas of this Kubernetes release (bundled by the pinned kubernetes-validate): Indexed Jobs'
# backoffLimitPerIndex is GA from 1.33, podFailurePolicy from 1.31.
KUBERNETES = "1.34.0"
CONFIG_PATH = "/etc/frumious/frumious.conf"
# What boto3 reads from the environment for the [s3] keys left unset, and [swift]'s OS_* names.
CREDENTIAL_VARIABLES = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_ENDPOINT_URL_S3",
} | {name for names in SWIFT_ENVIRONMENT.values() for name in names}


def documents() -> dict[str, dict[str, Any]]:
    """Every Kubernetes resource shipped, by file name (one a file)."""
    found = {}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
        assert len(docs) == 1, f"{path.name}: one resource a file"
        found[path.name] = docs[0]
    return found


def resources() -> dict[str, dict[str, Any]]:
    return {name: doc for name, doc in documents().items() if doc["kind"] != "Kustomization"}


def validate(resource: dict[str, Any]) -> None:
    kubernetes_validate.validate(resource, KUBERNETES, strict=True)


def pod_specs() -> dict[str, dict[str, Any]]:
    """The pod template of each workload, by file name."""
    specs = {}
    for name, doc in resources().items():
        spec = doc.get("spec", {})
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            specs[name] = spec["template"]["spec"]
    return specs


def command_of(pod: dict[str, Any]) -> list[str]:
    (container,) = pod["containers"]
    return [*container["command"], *container.get("args", [])]


def configmap_text() -> str:
    return str(resources()["configmap.yaml"]["data"]["frumious.conf"])


@pytest.mark.parametrize("name", sorted(resources()))
def test_every_manifest_is_valid_for_the_pinned_kubernetes(name: str) -> None:
    validate(resources()[name])


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("a misspelled field", lambda job: job["spec"].update(completion=4)),
        ("a number as a string", lambda job: job["spec"].update(parallelism="four")),
        ("a nested number as a string", lambda job: job["spec"].update(backoffLimitPerIndex="3")),
        ("an object where a list belongs", lambda job: job["spec"]["template"]["spec"].update(containers={})),
        ("a misspelled volume source", lambda job: job["spec"]["template"]["spec"]["volumes"][1].update(emptydir={})),
        ("a misspelled pod field", lambda job: job["spec"]["template"]["spec"].update(restartPolicyy="Never")),
    ],
)
def test_a_broken_manifest_is_rejected(where: str, change: Any) -> None:
    job = copy.deepcopy(resources()["job-shards.yaml"])
    validate(job)  # the shipped one passes
    change(job)
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(job)


def test_kustomization_lists_the_manifests_that_exist() -> None:
    kustomization = documents()["kustomization.yaml"]
    listed = set(kustomization["resources"])
    assert listed <= set(resources()), listed - set(resources())
    # The one-off Job is applied alone; the CronJob runs the same spec.
    assert set(resources()) - listed == {"job-shards.yaml"}


def test_the_cronjob_runs_the_indexed_job() -> None:
    job = resources()["job-shards.yaml"]["spec"]
    cron = resources()["cronjob-shards.yaml"]["spec"]
    assert cron["jobTemplate"]["spec"] == job
    assert cron["concurrencyPolicy"] == "Forbid" == resources()["cronjob-publish.yaml"]["spec"]["concurrencyPolicy"]


def test_the_shards_are_one_pod_each_retried_alone() -> None:
    job = resources()["job-shards.yaml"]["spec"]
    shards = config.loads(configmap_text()).mirror.shards
    argv = command_of(job["template"]["spec"])
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == job["parallelism"] == shards == int(argv[argv.index("--shards") + 1]) == 4
    assert job["backoffLimitPerIndex"] >= 1 and "backoffLimit" not in job


def test_config_errors_are_not_retried() -> None:
    for name in ("job-shards.yaml", "cronjob-publish.yaml"):
        spec = resources()[name]["spec"]
        spec = spec.get("jobTemplate", {}).get("spec", spec)
        rules = spec["podFailurePolicy"]["rules"]
        # Kubernetes refuses a podFailurePolicy unless the pods are never restarted in place.
        assert spec["template"]["spec"]["restartPolicy"] == "Never"
        on_two = [rule for rule in rules if 2 in rule.get("onExitCodes", {}).get("values", [])]
        assert [rule["action"] for rule in on_two] == ["FailJob"], name
        assert on_two[0]["onExitCodes"]["operator"] == "In"


def test_the_commands_parse_with_frumious_own_parser() -> None:
    parser = build_parser()
    parsed = {name: parser.parse_args(command_of(pod)[1:]) for name, pod in pod_specs().items()}
    assert all(command_of(pod)[0] == "frumious" for pod in pod_specs().values())
    assert all(args.config == CONFIG_PATH for args in parsed.values())
    shard = parsed["job-shards.yaml"]
    assert shard.command == "mirror" and shard.shards == 4 and shard.shard is None
    assert parsed["cronjob-shards.yaml"] == shard
    publish = parsed["cronjob-publish.yaml"]
    assert publish.command == "publish" and publish.wait == 3600
    serve = parsed["deployment-serve.yaml"]
    assert serve.command == "serve" and serve.host == "0.0.0.0"


def test_each_shard_pod_becomes_its_shard(monkeypatch: pytest.MonkeyPatch) -> None:
    from frumious.cli.shards import for_shard

    pod = pod_specs()["job-shards.yaml"]
    args = build_parser().parse_args(command_of(pod)[1:])
    settings = config.loads(configmap_text())
    for index in range(4):
        monkeypatch.setenv("JOB_COMPLETION_INDEX", str(index))  # as Kubernetes sets it in pod `index`
        shard = for_shard(args, settings).mirror.shard
        assert shard is not None and (shard.index, shard.count) == (index, 4)


def test_the_config_loads_without_problems(tmp_path: Path) -> None:
    path = tmp_path / "frumious.conf"
    path.write_text(configmap_text(), encoding="utf-8")
    settings, problems = config.load_with_problems(str(path))
    assert problems == [] and settings.warnings == ()
    mirror = settings.mirror
    assert mirror.storage_backend == "s3" and mirror.workers == 3 and mirror.max_requests_per_second == 40
    s3 = read_s3(settings)
    assert s3.endpoint_url and not s3.aws_access_key_id  # the credentials come from the Secret


def test_every_pod_mounts_the_config_and_the_credentials() -> None:
    configmap = resources()["configmap.yaml"]["metadata"]["name"]
    secret = resources()["secret.yaml"]
    assert set(secret["stringData"]) <= CREDENTIAL_VARIABLES, set(secret["stringData"]) - CREDENTIAL_VARIABLES
    for name, pod in pod_specs().items():
        (container,) = pod["containers"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        config_volume = volumes[mounts[str(Path(CONFIG_PATH).parent)]]
        assert config_volume["configMap"]["name"] == configmap, name
        assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}], name
        # A read-only root: every path frumious writes (spool files, the record's copy) is a volume.
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert "/tmp" in mounts, name
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        if "XDG_CACHE_HOME" in env:
            assert env["XDG_CACHE_HOME"] in mounts, name
        assert {"requests", "limits"} <= set(container["resources"]), name


def test_serve_is_probed_on_its_health_path_and_exposed() -> None:
    deployment = resources()["deployment-serve.yaml"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/-/health"
    argv = command_of(deployment["spec"]["template"]["spec"])
    port = int(argv[argv.index("--port") + 1])
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    service = resources()["service-serve.yaml"]["spec"]
    assert service["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["ports"][0]["targetPort"] == "http"


def test_the_deploy_docs_show_the_commands_shipped() -> None:
    text = (ROOT / "docs" / "scale-out.md").read_text(encoding="utf-8")
    shard = shlex.join(command_of(pod_specs()["job-shards.yaml"]))
    assert "## Deploy" in text and shard in text
