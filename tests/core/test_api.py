"""recovar_jl.core has recovar.core's names, parameter names, kinds and simple defaults.

tests/fixtures/api.json was recorded from recovar 1.0.5 by scripts/fixtures/make_api.py.
"""
import ast
import importlib
import inspect
import json

import pytest

from conftest import FIXTURES

API = json.loads((FIXTURES / "api.json").read_text())
CASES = [(module, name, entry) for module, entries in API.items() if module != "__init__"
         for name, entry in entries.items()]


def _literal(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return inspect.Parameter.empty  # not a plain literal (a sentinel, a dtype, a module)


@pytest.mark.parametrize("module,name,entry", CASES, ids=[f"{m}.{n}" for m, n, _ in CASES])
def test_every_recovar_core_name_exists_with_the_same_parameters(module, name, entry):
    ours = getattr(importlib.import_module(f"recovar_jl.core.{module}"), name, None)
    assert ours is not None, f"recovar_jl.core.{module}.{name} is missing"
    if entry["params"] is None or entry["kind"] == "class" and name in ("CTFMode", "CTFParamIndex"):
        return
    params = list(inspect.signature(ours).parameters.values())
    got = [[p.name, p.kind.name] for p in params]
    want = [[n, k] for n, k, _ in entry["params"]]
    assert got == want, f"{module}.{name}: parameters {got} != recovar's {want}"
    for p, (_, _, default) in zip(params, entry["params"]):
        expected = None if default is None else _literal(default)
        if default is None:
            assert p.default is inspect.Parameter.empty, f"{module}.{name}({p.name}) should have no default"
        elif expected is not inspect.Parameter.empty:
            assert p.default == expected, f"{module}.{name}({p.name}) default {p.default!r} != {default}"


def test_package_level_names_of_recovar_core_are_re_exported():
    import recovar_jl.core as core

    missing = [n for n in API["__init__"] if not hasattr(core, n)]
    assert not missing, f"missing in recovar_jl.core: {missing}"
