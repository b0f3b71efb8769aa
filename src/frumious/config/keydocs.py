"""One line of help for every key of ``[mirror]`` and ``[plugins]``: the source of docs/config.md.

The keys themselves and their defaults come from ``config.mirror`` (``MIRROR_KEYS``,
``MIRROR_DEFAULTS``); a test holds this table to exactly those keys, so a key added to the
reader without a line here (or a line for a key that is gone) fails the suite, not a user.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["MIRROR_KEY_HELP", "PLUGINS_KEY_HELP"]

MIRROR_KEY_HELP: Mapping[str, str] = {
    "directory": "Where the mirror lives (required); `/bucket/prefix` with `storage-backend = s3`. "
    "`/` and system directories are refused.",
    "master": "The index to copy: an http(s) URL with a host; https unless `allow-non-https` is true.",
    "index-url": "The upstream's simple index when it is not `<master>/simple/` (devpi's "
    "`<master>/root/dev/+simple/`, a PyTorch-style `<master>/whl/`); on master's server.",
    "allow-non-https": "Accept a plain `http://` master (a test server on 127.0.0.1, say).",
    "proxy": "Proxy for every upstream request: `http://`, `https://`, `socks4://` or `socks5://`; "
    "empty: the `*_PROXY` environment variables.",
    "download-mirror": "Fetch release files from this mirror first (each at its `/packages/...` key there), "
    "then from upstream's URL.",
    "download-mirror-no-fallback": "With `download-mirror`: never fall back to upstream's file URL.",
    "json": "Also keep each project's Warehouse JSON, at `web/json/NAME` and `web/pypi/NAME/json`: upstream's, "
    "with only the files the mirror holds and URLs into it.",
    "release-files": "Download release files; when false, pages link to `root_uri` instead.",
    "core-metadata": "Download the PEP 658 `.metadata` files beside wheels and advertise them in pages.",
    "hash-index": "Put project pages under `simple/<first letter>/<name>/` (needs a rewriting web server).",
    "simple-format": "Which simple pages to write: `ALL` (HTML and JSON), `HTML` or `JSON`.",
    "compare-method": (
        "How a stored file is judged current: `hash` (read and digest it; a sync trusts the digest the record"
        " verified while size and time match it, `verify` always re-hashes) or `stat` (size and time)."
    ),
    "digest_name": "Digest in pages and for `compare-method = hash`: `sha256` or `md5`.",
    "keep_index_versions": "Earlier versions of each project page kept under `versions/`; 0 keeps none.",
    "cleanup": "Remove leftover simple directories named before PEP 503 normalisation.",
    "stop-on-error": "Stop at the first failing project instead of finishing the run and reporting it.",
    "timeout": "Seconds to wait for a connection or for the next bytes of a response.",
    "global-timeout": "Seconds one request may take in all; 0 means five hours.",
    "workers": "Projects synced at once, 1 to 10.",
    "filtered-projects": "What `serve` answers for a project the mirror does not carry: `omit` (404) or `redirect` "
    "(302 to the upstream's page; never for air-gapped sites).",
    "verifiers": "Projects `verify` checks at once (its `--workers` overrides).",
    "storage-backend": "`filesystem`, `s3`, `swift`, or an installed backend's name (see storage.md).",
    "storage-filesystem-manage-permissions": "Filesystem backend: give stored files their source's permission bits.",
    "root_uri": "Make file links in pages absolute with this prefix instead of relative (`../../`).",
    "diff-file": "Write the files each run changed to this path; may name another key as `{{ section_option }}`.",
    "diff-append-epoch": "Append `-<unix time>` to the diff file's name, so each run keeps its own.",
    "log-config": "A `logging.config.fileConfig` file; a missing or unusable one is a config error.",
    "prune-filtered": "Remove projects and files the filters now exclude (otherwise reported, kept).",
    "keep-removed": "Keep projects removed upstream instead of deleting them.",
    "max-delete-share": "Refuse a run that would delete more than this share of the mirror (`0.01` or `5%`).",
    "quarantine-after": "Failed runs in a row before a project is retried with backoff (1 h, doubling, at most a day).",
    "confirm-removal-after": "Seconds between the two runs that must both see a project gone before it is removed.",
    "max-delete-file-share": "Refuse a project update that deletes more than this share of its files (over 5 files).",
    "max-listing-size": "Largest `/simple/` listing accepted, in bytes or with `K`, `M`, `G`.",
    "max-project-size": "Largest project page, Warehouse JSON or `.metadata` file accepted (bytes, `K`, `M`, `G`).",
    "report-file": "Write each run's JSON report (report.md) here; `--report FILE` overrides it.",
    "metrics-file": "Write each run's Prometheus metrics here (a `*.prom` textfile); `--metrics FILE` overrides it.",
    "feed": "Publish a change feed under `web/feed/` for downstream mirrors (feed.md).",
    "feed-keep-days": "Days of change feed kept; a downstream further behind reads the listing instead.",
    "max-requests-per-second": "Upstream requests per second for the whole run, all workers together; 0: no limit.",
    "max-bytes-per-second": "Bytes per second downloaded for the whole run (`K`, `M`, `G`); 0: no limit.",
    "shards": "Sync the mirror as this many shards (`mirror --shards N`, docs/scale-out.md); 0: one process.",
    "shard-share": "A shard's part of `max-requests-per-second` and `max-bytes-per-second`; 0: 1/shards.",
    "contact": "An e-mail address or URL named in the User-Agent (`frumious/0.1.0 (...; +you@example.org)`).",
}

PLUGINS_KEY_HELP: Mapping[str, str] = {
    "enabled": "The filter plugins to run, one a line, or `all`; none listed: every project is mirrored.",
}
