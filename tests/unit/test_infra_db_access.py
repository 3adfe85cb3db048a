"""MWAA's database access (the maps DAG reads bookings from Aurora), checked offline: each workload reads
only its own DB login secret, the MWAA security group must reach Aurora, MWAA gets no EMR or bucket-wide
list rights, and the bootstrap grants the DAGs' role SELECT on what the maps DAG queries."""

from __future__ import annotations

import copy
import fnmatch
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"


@pytest.fixture(scope="module")
def pa() -> ModuleType:
    sys.path.insert(0, str(INFRA / "scripts"))
    try:
        import plan_assertions
    finally:
        sys.path.remove(str(INFRA / "scripts"))
    return plan_assertions


def _rc(address: str, type_: str) -> dict:
    return {"address": address, "mode": "managed", "type": type_,
            "change": {"actions": ["create"], "after": {"name": "env"}, "after_unknown": {}}}


def test_each_workload_reads_only_its_own_db_login(pa: ModuleType, tmp_path: Path) -> None:
    assert pa.check_db_secret_readers() == []  # the real configuration
    root = tmp_path / "infra"
    root.mkdir()
    for tf in ("iam.tf", "main.tf"):
        shutil.copy(INFRA / tf, root / tf)
    iam = (root / "iam.tf").read_text()
    own = re.search(r"^(\s*mwaa\s*=\s*)\[module\.aurora\.dags_secret_arn\]", iam, re.M)
    assert own, "workload_secrets.mwaa should be the DAGs' own login secret"
    # MWAA handed the OLTP app's secret instead of its own: read and login both point at the app's role.
    (root / "iam.tf").write_text(iam.replace(own.group(0), own.group(1) + "[module.aurora.app_secret_arn]"))
    main = (root / "main.tf").read_text()
    (root / "main.tf").write_text(main.replace("EB_PG_SECRET_ARN = module.aurora.dags_secret_arn",
                                               "EB_PG_SECRET_ARN = module.aurora.app_secret_arn"))
    assert pa.check_db_secret_readers(root) == [
        "infra/main.tf: simulators and mwaa share the DB login app_secret_arn; give each its own role "
        "(modules/aurora login_roles + the bootstrap)"
    ]
    # A policy that reads a second login besides its own.
    (root / "main.tf").write_text(main)
    (root / "iam.tf").write_text(iam.replace(
        own.group(0), own.group(1) + "[module.aurora.dags_secret_arn, module.aurora.replication_secret_arn]"))
    assert pa.check_db_secret_readers(root) == [
        "infra/iam.tf: workload_secrets.mwaa reads Aurora logins ['dags_secret_arn', 'replication_secret_arn'], "
        "but it logs in with ['dags_secret_arn'] (EB_PG_SECRET_ARN in main.tf)"
    ]


def test_mwaa_security_group_must_reach_postgres(pa: ModuleType) -> None:
    mwaa = _rc("module.mwaa[0].aws_mwaa_environment.this", "aws_mwaa_environment")
    egress = _rc('module.network.aws_vpc_security_group_egress_rule.client_to_postgres["mwaa"]',
                 "aws_vpc_security_group_egress_rule")
    ingress = _rc('module.network.aws_vpc_security_group_ingress_rule.aurora_from_client["mwaa"]',
                  "aws_vpc_security_group_ingress_rule")
    other = _rc('module.network.aws_vpc_security_group_ingress_rule.aurora_from_client["simulators"]',
                "aws_vpc_security_group_ingress_rule")
    def reach(changes: list[dict]) -> list[str]:
        return [e for e in pa.check_plan({"resource_changes": changes}) if "security group" in e]

    assert reach([mwaa, egress, ingress, other]) == []
    assert reach([mwaa, other]) == [
        "module.mwaa[0].aws_mwaa_environment.this: its security group `mwaa` has no egress to Aurora "
        "(client_to_postgres); set postgres = true for it (network module)",
        "module.mwaa[0].aws_mwaa_environment.this: its security group `mwaa` has no Aurora ingress from it "
        "(aurora_from_client); set postgres = true for it (network module)",
    ]


def test_mwaa_policy_has_no_emr_rights_and_lands_only_in_the_raw_zone() -> None:
    iam = re.sub(r"#[^\n]*", "", (INFRA / "iam.tf").read_text())
    mwaa = iam.split('data "aws_iam_policy_document" "mwaa_app"', 1)[1]
    dags_code = "\n".join(p.read_text() for p in (REPO / "mwaa_dags").rglob("*.py"))
    if "emr-serverless" not in dags_code and "start_job_run" not in dags_code:
        assert "emr-serverless:" not in mwaa and "iam:PassRole" not in mwaa
    raw_zone = '["${module.storage.bucket_arns["lake"]}/${module.storage.lake_zones.raw}*"]'
    assert re.findall(r"resources\s*=\s*(.*)", mwaa) == [raw_zone]


# --- the MWAA role's statements, read from the Terraform text (no HCL parser in the venv) --------------------
LAKE = "arn:aws:s3:::LAKE"  # stands for module.storage.bucket_arns["lake"]


def _body(text: str, header: str) -> str:
    """What is between the braces of the block that starts with ``header`` (braces of ${} balance too)."""
    start = text.index("{", text.index(header))
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1:i]
    raise AssertionError(f"unbalanced block {header}")


def _top_blocks(body: str) -> list[tuple[str, str]]:
    """The blocks directly inside ``body``: (header, inner text)."""
    out, depth, line_start, start = [], 0, 0, 0
    for i, ch in enumerate(body):
        if ch == "\n" and depth == 0:
            line_start = i + 1
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                header = body[line_start:start].strip()
                if not re.fullmatch(r"[\w\"]+(\s+[\w\"]+)*", header):  # an object value, not a block
                    continue
                out.append((header, body[start + 1:i]))
    return out


def _values(expr: str, names: dict[str, str]) -> list[str]:
    """A list expression (["a", "${x}/b", x]) with the names it uses replaced; unknown ones stay <name>."""
    expr = expr.strip()
    if expr.startswith("[for "):
        return [f"<{expr}>"]
    for name, value in names.items():
        expr = expr.replace("${" + name + "}", value)
    if not (expr.startswith("[") and expr.endswith("]")):  # a whole list from elsewhere (local.x[each.key])
        return [names.get(expr, f"<{expr}>")]
    items = [item.strip() for item in expr[1:-1].split(",") if item.strip()]
    return [item[1:-1] if item.startswith('"') else names.get(item, f"<{item}>") for item in items]


def _attr(block: str, key: str) -> str:
    """The value of ``key = ...``: the rest of its line, or a whole [...] over several lines."""
    found = re.search(rf"^\s*{key}\s*=\s*", block, re.M)
    if not found:
        return ""
    rest = block[found.end():]
    if not rest.startswith("["):
        return rest.split("\n", 1)[0].strip()
    depth = 0
    for i, ch in enumerate(rest):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if depth == 0:
            return " ".join(rest[:i + 1].split())
    raise AssertionError(f"unbalanced [ in {key} = {rest[:80]}")


def _statements(path: Path, document: str, names: dict[str, str]) -> list[dict]:
    text = re.sub(r"(?m)(^|\s)#[^\n]*", "", path.read_text())
    out = []
    for header, inner in _top_blocks(_body(text, f'data "aws_iam_policy_document" "{document}"')):
        if header == 'dynamic "statement"':
            inner = next(b for h, b in _top_blocks(inner) if h == "content")
        elif header != "statement":
            continue
        out.append({
            "sid": _attr(inner, "sid").strip('"'),
            "actions": _values(_attr(inner, "actions"), names),
            "resources": _values(_attr(inner, "resources"), names),
            "conditions": [(_attr(c, "test").strip('"'), _attr(c, "variable").strip('"'),
                            _values(_attr(c, "values"), names)) for h, c in _top_blocks(inner) if h == "condition"],
        })
    return out


def _mwaa_role_statements() -> tuple[list[dict], str]:
    """Every statement of the MWAA execution role (the module's own + mwaa_app + its workload sources), with
    the raw zone the root module hands it (infra/main.tf ``raw_zone``); and that zone's prefix."""
    main = (INFRA / "main.tf").read_text()
    zone = re.search(r'raw_zone\s*=\s*\{\s*bucket_arn\s*=\s*module\.storage\.bucket_arns\["lake"\],\s*'
                     r'prefix\s*=\s*"([^"]+)"\s*\}', main)
    assert zone, "infra/main.tf: module.mwaa's raw_zone should be the lake bucket and a prefix"
    prefix = zone.group(1)
    names = {'module.storage.bucket_arns["lake"]': LAKE, "module.storage.lake_zones.raw": "raw/",
             "statement.value.bucket_arn": LAKE, "statement.value.prefix": prefix}
    docs = [(INFRA / "modules" / "mwaa" / "main.tf", "execution"), (INFRA / "iam.tf", "mwaa_app"),
            (INFRA / "iam.tf", "workload"), (INFRA / "iam.tf", "schema_version_by_id")]
    return [st for path, doc in docs for st in _statements(path, doc, names)], prefix


def _grants(statement: dict, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action, a) for a in statement["actions"])


def _lake_list_and_delete_errors(statements: list[dict], prefix: str) -> list[str]:
    """s3:ListBucket on the lake only with an s3:prefix condition inside ``prefix``/, s3:DeleteObject only on
    objects under ``prefix``/; and each granted once (the DAGs' rerun lists and deletes an interval there)."""
    errors, listing, deleting = [], [], []
    for st in statements:
        if _grants(st, "s3:ListBucket") and any(fnmatch.fnmatchcase(LAKE, r) for r in st["resources"]):
            listing.append(st["sid"])
            scoped = [values for test, variable, values in st["conditions"]
                      if variable == "s3:prefix" and test in ("StringLike", "StringEquals")]
            if not scoped or not all(v.startswith(f"{prefix}/") for values in scoped for v in values):
                errors.append(f"{st['sid']}: s3:ListBucket on the lake is not limited to {prefix}/ by s3:prefix")
        lake_objects = [r for r in st["resources"] if fnmatch.fnmatchcase(f"{LAKE}/{prefix}/x", r)
                        or r.startswith(LAKE) or r == "*"]
        if _grants(st, "s3:DeleteObject") and lake_objects:
            deleting.append(st["sid"])
            if any(not r.startswith(f"{LAKE}/{prefix}/") for r in lake_objects):
                errors.append(f"{st['sid']}: s3:DeleteObject on {lake_objects}, beyond {prefix}/*")
    if len(listing) != 1 or len(deleting) != 1:
        errors.append(f"the raw zone's listing and deleting should be one statement each: {listing}, {deleting}")
    return errors


def test_mwaa_lists_and_deletes_in_the_lake_only_under_its_raw_zone_prefix() -> None:
    """A rerun lists an interval's objects (list_objects_v2) and deletes what an earlier attempt left
    (mwaa_dags/extdata/records.py prune): the role may list the lake only with an s3:prefix condition inside
    the raw zone, and delete only there."""
    statements, prefix = _mwaa_role_statements()
    assert prefix.startswith("raw/") and _lake_list_and_delete_errors(statements, prefix) == []
    by_sid = {st["sid"]: st for st in statements}
    assert by_sid["ListRawZone"]["conditions"] == [("StringLike", "s3:prefix", [f"{prefix}/*"])]
    assert by_sid["ReplaceRawZoneObjects"]["resources"] == [f"{LAKE}/{prefix}/*"]
    assert "s3:ListBucket" in by_sid["ListRawZone"]["actions"]
    assert "s3:DeleteObject" in by_sid["ReplaceRawZoneObjects"]["actions"]

    def changed(sid: str, **update: object) -> list[str]:
        """The errors of a copy of the parsed policy with one statement changed (infra is left alone)."""
        edited = [dict(st, **update) if st["sid"] == sid else st for st in copy.deepcopy(statements)]
        return _lake_list_and_delete_errors(edited, prefix)

    assert changed("ListRawZone", conditions=[]) == [
        f"ListRawZone: s3:ListBucket on the lake is not limited to {prefix}/ by s3:prefix"]
    assert changed("ListRawZone", conditions=[("StringLike", "s3:prefix", ["*"])]) == [
        f"ListRawZone: s3:ListBucket on the lake is not limited to {prefix}/ by s3:prefix"]
    assert changed("ReplaceRawZoneObjects", resources=[f"{LAKE}/*"]) == [
        f"ReplaceRawZoneObjects: s3:DeleteObject on ['{LAKE}/*'], beyond {prefix}/*"]
    assert (f"LandRawExternalData: s3:DeleteObject on ['{LAKE}/raw/*'], beyond {prefix}/*"
            in changed("LandRawExternalData", actions=["s3:GetObject", "s3:PutObject", "s3:*"]))
    assert changed("ListRawZone", actions=["s3:GetObject"]) == [
        "the raw zone's listing and deleting should be one statement each: [], ['ReplaceRawZoneObjects']"]


def test_the_dags_role_may_select_what_the_maps_dag_queries() -> None:
    from lambdas.bootstrap.apply import DAGS_READ_TABLES

    maps = (REPO / "mwaa_dags" / "extdata" / "maps.py").read_text()
    queried = set(re.findall(r"\b(?:FROM|JOIN)\s+([a-z_]+)", maps))
    assert queried and queried <= set(DAGS_READ_TABLES)
