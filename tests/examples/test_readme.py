"""The README's examples table says what each example checks, as its code does."""

import re

import pytest

from segfn.signatures import OPTIONS
from tests.paths import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def checks_cell(name):
    readme = (ROOT / "README.md").read_text()
    row = next((line for line in readme.splitlines()
                if line.startswith(f"| [`{name}.py`](examples/{name}.py) |")), None)
    assert row is not None, f"the README's examples table has no {name}.py"
    return row.rstrip(" |").rsplit(" | ", 1)[1]


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_checks_column_names_the_setting_and_provider(example):
    code = example.read_text()
    cell = checks_cell(example.stem)
    setting = re.search(r'if settings\.get\("(\w+)"\):', code)
    if setting is None:
        assert cell.startswith("nothing"), cell
        return
    assert cell.startswith(f"when `{setting.group(1)}` is set: "), cell
    providers = re.findall(r'verify_signature\(request, "([\w-]+)"', code)
    for provider in providers:
        assert f"(`{provider}`" in cell, cell
        if "tolerance" in OPTIONS[provider]:
            assert f"within {OPTIONS[provider]['tolerance'].default:g} s" in cell, cell
    if "verify_hmac(" in code:
        assert "(`verify_hmac`)" in cell, cell
    elif not providers:
        assert "(a shared key, not a signature)" in cell, cell
