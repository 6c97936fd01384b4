"""Benchmark: how long the explorer takes to answer a control change in a real browser (issue #15's measure).

    .venv/bin/python benchmarks/explorer_browser_latency.py --data-root data          # practice 'demo' there
    .venv/bin/python benchmarks/explorer_browser_latency.py --data-root data --runs 2 --shot /tmp/explorer.png

Serves the explorer notebook with Voila on localhost (as ``rcmkit explore`` does), opens it in headless Chromium
(Playwright on the system's Chromium), and changes one control at a time the way a user does (a payer chosen in the
list, a toggle button clicked, a period chosen in the drop-down, a code typed and Enter pressed, a tab clicked).

What is timed: from the user's input event in the page (the first ``pointerdown``, ``keydown`` or ``change`` after
the step starts, recorded by a capturing listener) to the last change the explorer makes to the page for it (a
MutationObserver on the explorer), once the explorer's refresh counter (``data-refresh`` on its status line, set
last by each refresh) has moved and nothing has changed for ``--quiet`` ms since. That
covers the round trip to the kernel, the kernel's work, the widget messages back and the browser's drawing of the
new tiles, chart and table. Each step is a selection not seen before in its run; ``--runs`` runs (each on a new
page, so a new kernel) and the best time of each step is reported, as wall time on a shared machine varies.
Beside each step: the kernel's part (its refresh, the status line's ``data-seconds``) and the rest (messages to
and from the kernel through Voila, and the browser's work).
The machine's speed at the start and end of the run: the CPU time of a fixed loop (``for i in
range(20_000_000): s += i``; 1.3 s on a quiet machine here, up to 2.9 s on a busy one).
Targets (issue #15): median <= 150 ms, slowest <= 400 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MEDIAN_TARGET, SLOWEST_TARGET = 0.150, 0.400

# Installed in the page before each step: the time of the user's first input event and of the explorer's last
# change to the page after it.
_ARM = """() => {
  const root = document.querySelector('.rcmkit-explorer');
  if (!window.__rcmx) {
    window.__rcmx = {t0: null, last: null, armed: false};
    const mark = () => { if (window.__rcmx.armed && window.__rcmx.t0 === null) window.__rcmx.t0 = performance.now(); };
    for (const ev of ['pointerdown', 'mousedown', 'keydown', 'change', 'input']) {
      document.addEventListener(ev, mark, true);  // pointerdown: the tab bar cancels the mouse events
    }
    new MutationObserver(() => {
      if (window.__rcmx.t0 !== null) window.__rcmx.last = performance.now();
    }).observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
  }
  window.__rcmx.t0 = null; window.__rcmx.last = null; window.__rcmx.armed = true;
}"""

_REFRESH = """() => Number(document.querySelector('.rcmkit-explorer .rcmx-status[data-refresh]')
                          ?.getAttribute('data-refresh') ?? -1)"""

# Settled: the explorer's refresh counter moved past ``before`` (the kernel sets the status last, so every view's
# update was sent before it) and nothing has changed since for ``quiet`` ms (the browser drew them).
_SETTLED = """([before, quiet]) => {
  const s = window.__rcmx;
  const node = document.querySelector('.rcmkit-explorer .rcmx-status[data-refresh]');
  const now = Number(node?.getAttribute('data-refresh') ?? -1);
  return s.t0 !== null && s.last !== null && now > before && performance.now() - s.last >= quiet;
}"""


def steps(page, data) -> list[tuple[str, callable]]:
    """(name, action) pairs: each action changes one control on ``page`` (labels as the widgets show them)."""
    payers = [label for label, _ in data.payer_choices()]
    providers = [label for label, _ in data.provider_choices()]
    classes = dict(data.payer_class_choices())
    commercial = next((lb for lb, v in classes.items() if v == "commercial"), next(iter(classes)))
    months = [pd_label(m) for m in data.months]

    def select(cls, *labels):
        return lambda: page.locator(f".rcmx-{cls} select").select_option(label=list(labels))

    def toggle(cls, text):
        return lambda: page.locator(f".rcmx-{cls} button", has_text=text).first.click()

    def codes(text):
        def act():
            box = page.locator(".rcmx-codes input")
            box.fill(text)
            box.press("Enter")
        return act

    def tab(title):
        return lambda: page.locator(".rcmkit-explorer .lm-TabBar-tab, .rcmkit-explorer .p-TabBar-tab",
                                    has_text=title).first.click()

    return [
        ("payer: one payer", select("payer", payers[0])),
        ("payer: another payer", select("payer", payers[1])),
        ("payer: two payers", select("payer", payers[0], payers[1])),
        ("payer class: commercial", select("payer-class", commercial)),
        ("provider: one NPI", select("provider", providers[0])),
        ("procedure codes: '9921'", codes("9921")),
        ("clear filters", lambda: page.locator(".rcmx-reset button, button.rcmx-reset").first.click()),
        ("months: 12", toggle("months", "12 mo")),
        ("months: 1", toggle("months", "1 mo")),
        ("period end: a month earlier", lambda: page.locator(".rcmx-end select").select_option(label=months[-2])),
        ("level: by payer", toggle("level", "By payer")),
        ("level: by code", toggle("level", "By code")),
        ("level: claims", toggle("level", "Claims")),
        ("metric: clean-claim rate", lambda: page.locator(".rcmx-metric select").select_option(
            label="Clean-claim rate")),
        ("metric: A/R and aging", lambda: page.locator(".rcmx-metric select").select_option(label="A/R and aging")),
        ("level: open balances (claims)", toggle("level", "Claims")),
        ("metric: charges and payments", lambda: page.locator(".rcmx-metric select").select_option(
            label="Charges and payments")),
        ("tab: reimbursement", tab("Reimbursement")),
        ("measure: allowed / contract", toggle("measure", "Allowed / contract")),
        ("codes by paid $", toggle("rank-by", "Paid $")),
        ("payer (on the heat map)", select("payer", payers[2])),
    ]


def pd_label(month: str) -> str:
    import pandas as pd

    return pd.Period(month, freq="M").strftime("%b %Y")


_KERNEL = """() => Number(document.querySelector('.rcmkit-explorer .rcmx-status[data-seconds]')
                          ?.getAttribute('data-seconds') ?? NaN)"""


def loop_seconds() -> float:
    """CPU seconds of a fixed loop at module level (``for i in range(20_000_000): s += i``, its names global as in
    a script): how fast the machine is right now (its speed varies ~1.5x here)."""
    c0 = time.process_time()
    exec(compile("s = 0\nfor i in range(20_000_000):\n    s += i\n", "<loop>", "exec"), {})
    return time.process_time() - c0


def run_once(notebook: Path, data, quiet_ms: float, shot: str | None) -> tuple[dict[str, float], dict[str, float]]:
    from rcmkit.explorer.app import running_voila, wait_for_explorer
    from rcmkit.report.browser import open_browser

    times: dict[str, float] = {}
    kernel: dict[str, float] = {}
    with running_voila(notebook, timeout=120) as server, open_browser() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        t0 = time.perf_counter()
        page.goto(server.url, wait_until="domcontentloaded", timeout=120_000)
        wait_for_explorer(page, timeout_ms=180_000)
        print(f"  page shown in {time.perf_counter() - t0:.1f} s", flush=True)
        page.wait_for_timeout(1000)  # let the first view settle
        for name, action in steps(page, data):
            before = page.evaluate(_REFRESH)
            page.evaluate(_ARM)
            action()
            page.wait_for_function(_SETTLED, arg=[before, quiet_ms], timeout=60_000, polling=20)
            t_in, t_last = page.evaluate("() => [window.__rcmx.t0, window.__rcmx.last]")
            times[name] = (t_last - t_in) / 1000
            kernel[name] = page.evaluate(_KERNEL)
            print(f"  {name:36} {times[name]:6.3f}  (kernel {kernel[name]:6.3f})", flush=True)
        if page.locator(".rcmx-error").count():
            raise SystemExit(f"the explorer shows an error: {page.locator('.rcmx-error').first.inner_text()}")
        if shot:
            page.screenshot(path=shot, full_page=True)
    return times, kernel


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True, help="a data root holding the practice (e.g. rcmkit demo's)")
    ap.add_argument("--practice", default="demo")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--quiet", type=float, default=250, help="ms without a page change that count as settled")
    ap.add_argument("--shot", help="a screenshot of the page after the last run's last step")
    args = ap.parse_args(argv)

    from rcmkit.explorer import load_data
    from rcmkit.explorer.app import prepare_notebook, voila_available
    from rcmkit.report.browser import chromium_path

    if chromium_path() is None or not voila_available():
        print("needs Chromium (apt-get install chromium), Playwright and Voila (pip install -e '.[test]')")
        return 1
    data = load_data(args.data_root, args.practice)
    best: dict[str, float] = {}
    best_kernel: dict[str, float] = {}
    loops = [loop_seconds()]
    print(f"fixed loop: {loops[0]:.2f} s of CPU", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        nb = prepare_notebook(Path(tmp) / "app", practice=args.practice, data_root=args.data_root, months=3)
        for run in range(args.runs):
            print(f"run {run + 1} of {args.runs}", flush=True)
            times, kernel = run_once(nb, data, args.quiet, args.shot if run == args.runs - 1 else None)
            for n, t in times.items():
                if t < best.get(n, float("inf")):
                    best[n], best_kernel[n] = t, kernel[n]
    loops.append(loop_seconds())
    names = list(best)
    width = max(len(n) for n in names)
    print(f"\n{'control change (in the browser)':{width}}  seconds (best of {args.runs}) = kernel + rest")
    for n in names:
        print(f"{n:{width}}  {best[n]:6.3f} = {best_kernel[n]:6.3f} + {best[n] - best_kernel[n]:6.3f}")
    med, top = statistics.median(best.values()), max(best.values())
    rest = statistics.median(best[n] - best_kernel[n] for n in names)
    print(f"\nfixed loop {loops[0]:.2f} s before, {loops[-1]:.2f} s after (1.3 s on a quiet machine)")
    print(f"median {med:.3f} s (target {MEDIAN_TARGET:.3f}), slowest {top:.3f} s (target {SLOWEST_TARGET:.3f}) "
          f"over {len(names)} changes: {'met' if med <= MEDIAN_TARGET and top <= SLOWEST_TARGET else 'not met'}; "
          f"the kernel's median {statistics.median(best_kernel.values()):.3f} s, the rest's {rest:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
