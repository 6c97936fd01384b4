"""`rcmkit explore` mirrors `python -m rcmkit.explorer` (the CLI mirrors the API, issue #14)."""

from __future__ import annotations

from click.testing import CliRunner

from rcmkit.cli import main


def test_explore_passes_its_options_to_the_explorer(monkeypatch):
    seen = {}
    import rcmkit.explorer.__main__ as explorer_main

    monkeypatch.setattr(explorer_main, "main", lambda argv: seen.setdefault("argv", argv) and 0)
    out = CliRunner().invoke(main, ["explore", "--practice", "acme", "--data-root", "d", "--end", "2026-09",
                                    "--months", "6", "--port", "9000", "--token", "t0k"])
    assert out.exit_code == 0, out.output
    assert seen["argv"] == ["serve", "--port", "9000", "--export-dir", "reports/explorer", "--token", "t0k",
                            "--practice", "acme", "--data-root", "d", "--months", "6", "--end", "2026-09"]
    seen.clear()
    CliRunner().invoke(main, ["explore", "--screenshot", "x.png"])
    assert seen["argv"] == ["screenshot", "x.png", "--practice", "demo", "--data-root", "data", "--months", "3"]


def test_explore_a_practice_that_does_not_exist_is_one_error_line(tmp_path):
    out = CliRunner().invoke(main, ["explore", "--practice", "nope", "--data-root", str(tmp_path),
                                    "--screenshot", str(tmp_path / "x.png")])
    assert out.exit_code == 2 and "error: practice 'nope' has no tables" in out.output
    assert not (tmp_path / "x.png").exists()
