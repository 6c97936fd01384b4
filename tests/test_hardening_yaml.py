"""Issue #13: a YAML alias bomb ("billion laughs") in a parameter file is refused at once, in one short line,
and no error message prints a value of unbounded length."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import rcmkit.report
from rcmkit.cli import main
from rcmkit.report import ParamError, load_params

BASE = "practice: small\ndata_root: data\n"


def _laughs(indent: str, levels: int = 9) -> str:
    """The classic bomb: 9 levels of 9 aliases each, 9**9 (387 million) strings once expanded."""
    lines = [f'{indent}a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"{indent}a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def _inline_laughs(levels: int = 9) -> str:
    """The same bomb as one flow value: [&a0 [lol x9], &a1 [*a0 x9], ..., &a8 [*a7 x9]]."""
    parts = ['&a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    parts += [f"&a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


BOMBS = {
    "metric-option": BASE + "metrics:\n  denial_policy: " + _inline_laughs() + "\n",
    "benchmark-value": BASE + "benchmarks:\n  days_in_ar:\n" + _laughs("    ") + "    good: *a8\n",
    "benchmark-inline": BASE + "benchmarks:\n  days_in_ar: {good: " + _inline_laughs() + "}\n",
    "top-level": BASE + "junk:\n" + _laughs("  "),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_alias_bomb_is_refused_fast_in_one_line(tmp_path, name):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMBS[name], encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(ParamError) as info:
        load_params(path, check_data=False)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    assert message.startswith(f"{path}:") and "alias" in message.split(str(path), 1)[1]


def test_alias_bomb_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.setattr(rcmkit.report, "run_report", lambda *a, **k: pytest.fail("validation did not stop it"))
    (tmp_path / "p.yaml").write_text(BOMBS["metric-option"], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    result = CliRunner().invoke(main, ["report", "p.yaml"])
    assert time.perf_counter() - start < 1.0
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: p.yaml") and result.stderr.count("\n") == 1 and len(result.stderr) < 400


def test_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text(BASE + "metrics: &m\n  again: *m\n", encoding="utf-8")
    with pytest.raises(ParamError) as info:
        load_params(path, check_data=False)
    assert "recursive alias" in str(info.value)


def test_a_few_small_aliases_still_work(tmp_path):
    """Modest reuse (an anchor used twice) is not a bomb."""
    path = tmp_path / "ok.yaml"
    path.write_text(BASE + "benchmarks:\n  days_in_ar: &t {good: 35, acceptable: 45}\n  days_in_ar_net: *t\n",
                    encoding="utf-8")
    p = load_params(path, check_data=False)
    assert p.benchmark_overrides["days_in_ar_net"] == {"good": 35, "acceptable": 45}


@pytest.mark.parametrize("text,key", [
    (BASE + "metrics:\n  days_in_ar: " + "x" * 100_000 + "\n", "metrics"),
    (BASE + "benchmarks:\n  days_in_ar: {good: " + "y" * 100_000 + "}\n", "benchmarks"),
    (BASE + "metrics: " + "z" * 100_000 + "\n", "metrics"),
    (BASE + "benchmarks:\n  " + "k" * 1000 + ": {good: 1}\n", "benchmarks"),
    (BASE + "month: " + "9" * 100_000 + "\n", "month"),
    ("practice: " + "p" * 100_000 + "\n", "practice"),
])
def test_long_values_are_truncated_in_messages(tmp_path, text, key):
    path = tmp_path / "long.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ParamError) as info:
        load_params(path, check_data=False)
    message = str(info.value)
    assert f": {key}:" in message and "\n" not in message
    assert len(message) < 640 + len(str(path)), message[:700]
    assert "…" in message or "..." in message
