"""`rcmkit explore` mirrors `python -m rcmkit.explorer` (the CLI mirrors the API, issue #14)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from rcmkit.cli import main


def test_explore_passes_its_options_to_the_explorer(monkeypatch):
    seen = {}
    import rcmkit.explorer.__main__ as explorer_main

    monkeypatch.setattr(explorer_main, "main", lambda argv: seen.setdefault("argv", argv) and 0)
    out = CliRunner().invoke(main, ["explore", "--practice", "acme", "--data-root", "d", "--end", "2026-09",
                                    "--months", "6", "--port", "9000", "--token", "t0k"])
    assert out.exit_code == 0, out.output
    assert seen["argv"] == ["serve", "--port", "9000", "--export-dir", "reports/explorer", "--cull-idle", "600",
                            "--token", "t0k", "--practice", "acme", "--data-root", "d", "--months", "6", "--end",
                            "2026-09"]
    seen.clear()
    CliRunner().invoke(main, ["explore", "--cull-idle", "120"])
    assert seen["argv"][:7] == ["serve", "--port", "8866", "--export-dir", "reports/explorer", "--cull-idle", "120"]
    seen.clear()
    out = CliRunner().invoke(main, ["explore", "--cull-idle", "-1"])
    assert out.exit_code == 2 and "argv" not in seen
    seen.clear()
    CliRunner().invoke(main, ["explore", "--screenshot", "x.png"])
    assert seen["argv"] == ["screenshot", "x.png", "--practice", "demo", "--data-root", "data", "--months", "3"]


def test_explore_a_practice_that_does_not_exist_is_one_error_line(tmp_path):
    out = CliRunner().invoke(main, ["explore", "--practice", "nope", "--data-root", str(tmp_path),
                                    "--screenshot", str(tmp_path / "x.png")])
    assert out.exit_code == 2 and "error: practice 'nope' has no tables" in out.output
    assert not (tmp_path / "x.png").exists()


def test_voila_culls_idle_kernels_and_renders_without_a_cdn(tmp_path):
    """Each visit's kernel (~390 MB) is shut down once no page has been connected to it for 10 minutes; the page
    is rendered with the rcmkit template (Voila's lab template without its Font Awesome links to jsdelivr)."""
    from rcmkit.explorer import app

    nb = tmp_path / "explore.ipynb"
    cmd, env = app.voila_command(nb, port=8899, token="t0k")
    assert cmd[1:4] == ["-m", "voila", str(nb.resolve())]
    assert cmd[4:] == ["--no-browser", "--port=8899", "--Voila.ip=127.0.0.1", "--Voila.token=t0k",
                       "--template=rcmkit", "--MappingKernelManager.cull_idle_timeout=600",
                       "--MappingKernelManager.cull_interval=60", "--MappingKernelManager.cull_connected=False",
                       "--MappingKernelManager.cull_busy=False"]
    share = (tmp_path / ".voila-share").resolve()
    assert env["JUPYTER_PATH"].split(os.pathsep)[0] == str(share)
    template = share / "voila" / "templates" / "rcmkit"
    assert json.loads((template / "conf.json").read_text()) == {"base_template": "lab"}
    index = (template / "index.html.j2").read_text()
    assert "extends 'lab/index.html.j2'" in index and "'://' in line" in index and "http" not in index
    assert app.cull_options(3) == ["--MappingKernelManager.cull_idle_timeout=3",
                                   "--MappingKernelManager.cull_interval=1",
                                   "--MappingKernelManager.cull_connected=False",
                                   "--MappingKernelManager.cull_busy=False"]
    assert app.cull_options(90)[1] == "--MappingKernelManager.cull_interval=45"
    assert app.cull_options(0) == []  # never: kernels stay until Voila stops
    for bad in (-1, 1.5, True, "600"):
        with pytest.raises(ValueError, match="cull_idle"):
            app.cull_options(bad)
    cmd, _ = app.voila_command(nb, port=1, token="t", cull_idle=0)
    assert not [a for a in cmd if a.startswith("--MappingKernelManager")]


def test_serve_hands_the_cull_timeout_to_voila(monkeypatch, tmp_path):
    import rcmkit.explorer.__main__ as explorer_main
    from rcmkit.explorer import app

    calls = []
    monkeypatch.setattr(app, "prepare_notebook", lambda tmp, **kw: Path(tmp) / "explore.ipynb")
    monkeypatch.setattr(app.subprocess, "call", lambda cmd, cwd, env: calls.append((cmd, env)) or 0)
    assert explorer_main.main(["serve", "--token", "t", "--cull-idle", "30"]) == 0
    cmd, env = calls[-1]
    assert "--MappingKernelManager.cull_idle_timeout=30" in cmd and "--MappingKernelManager.cull_interval=15" in cmd
    assert "--template=rcmkit" in cmd and env["JUPYTER_PATH"].split(os.pathsep)[0].endswith(".voila-share")
    assert explorer_main.main(["serve", "--token", "t"]) == 0
    assert "--MappingKernelManager.cull_idle_timeout=600" in calls[-1][0]
    assert explorer_main.main(["serve", "--token", "t", "--cull-idle", "-5"]) == 2 and len(calls) == 2
