"""Imports run one way: api -> services (cascade/) -> mapping/db; sync -> services;
nothing imports api or the composition root but the root itself. The root
builds everything from configuration: the app (``cascade.app``), the processes
(``cascade.cmd``) and the operator CLI's commands (``cascade.manage``).

"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "cascade", "mapping", "sync")
COMPOSITION = ("cascade.app", "cascade.cmd", "cascade.manage")
#: What mapping/ may use of cascade/ (the database layer and shared basics).
MAPPING_MAY_USE = ("cascade.db", "cascade.errors", "cascade.typedefs", "cascade.context",
                   "cascade.jsonutil")

def _layer(module: str) -> str:
    if any(module == root or module.startswith(root + ".") for root in COMPOSITION):
        return "root"
    return module.split(".")[0]


def _imports() -> list[tuple[str, str]]:
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            module = module.removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    # the names imported, as modules or attributes of one
                    names = [f"{node.module}.{a.name}" for a in node.names]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                for name in names:
                    if name.split(".")[0] in PACKAGES:
                        out.append((module, name))
    return out


def _against(importer: str, imported: str) -> bool:
    src, dst = _layer(importer), _layer(imported)
    if src == "root":
        return False
    if dst == "root":
        return True  # nothing imports the composition root
    if dst == "api":
        return src != "api"
    if src == "mapping":
        return dst == "sync" or (dst == "cascade" and not any(
            imported == ok or imported.startswith(ok + ".") for ok in MAPPING_MAY_USE))
    if src in ("cascade", "api"):
        return dst == "sync"
    return False


def _violations() -> set[tuple[str, str]]:
    found = set()
    for importer, imported in _imports():
        if _against(importer, imported):
            parts = imported.split(".")
            found.add((importer, ".".join(parts[:2])))
    return found


def test_no_import_runs_against_the_agreed_direction() -> None:
    wrong = sorted(_violations())
    assert not wrong, "imports against api -> services -> mapping/db; sync -> services:\n" + \
        "\n".join(f"  {a} imports {b}" for a, b in wrong)


def test_the_check_catches_an_import_against_the_direction() -> None:
    assert _against("mapping.rewrite", "api.middleware.public")
    assert _against("sync.server_build", "api.compute.servers")
    assert _against("cascade.images.service", "sync.jobs")
    assert _against("mapping.store", "cascade.quota.ledger")
    assert _against("api.ops", "cascade.app.create_app")
    assert not _against("api.ops", "cascade.appkeys.AUTH")
    assert not _against("mapping.store", "cascade.db.models.Resource")
    assert not _against("cascade.cmd.api", "api.middleware")
