"""The console in a real headless browser (Debian's Chromium driven by playwright) against the
running simulated graph: camera frame, controller state, an instruction with its feedback and
result, the e-stop (ESTOPPED seen within 200 ms of the click, median of 5 clicks, each within 1 s,
measured by the page's clock), reset and
enable, a recording started and stopped from the page and its bag on disk, the plot's group.

Screenshots go to the test's temporary folder; with GR00T_UPDATE_SCREENSHOTS=1 to docs/images/ (the
README's), with the measured e-stop latencies in docs/benchmarks/console_estop.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# --disable-background-networking & co: no connection attempts to Google's services (refused on a closed
# network, and nothing a robot's console should do).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ESTOP_BOUND_MS = 200.0  # median of the clicks
ESTOP_MAX_MS = 1000.0  # every click
TRIALS = 5


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Chromium not installed: tools/setup.sh installs Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _out_dir(tmp_path: Path) -> tuple[Path, Path | None]:
    if os.environ.get("GR00T_UPDATE_SCREENSHOTS") == "1":
        return REPO / "docs" / "images", REPO / "docs" / "benchmarks" / "console_estop.json"
    return tmp_path, None


def test_the_console_drives_the_simulated_robot(sim_graph, browser, tmp_path):
    shots, report = _out_dir(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    # bypass_csp: the test's own probes (wait_for_function) are evaluated strings, which the console's
    # Content-Security-Policy forbids; the page itself runs under the policy in the test below.
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
    outside: list[str] = []
    page.on(
        "request", lambda r: outside.append(r.url) if not r.url.startswith((sim_graph.url, "blob:", "data:")) else None
    )
    page.goto(f"{sim_graph.url}/#token={sim_graph.token}")
    page.wait_for_function("document.getElementById('auth').textContent === 'token ok'", timeout=15000)
    assert "token" not in page.url  # the token left the address bar

    # A camera frame and the controller state.
    page.wait_for_function("window.gr00tConsole.frames > 0", timeout=20000)
    page.wait_for_function(
        "['RUNNING','HOLDING','RAMPING','DISABLED'].includes(document.getElementById('controller-state').textContent)",
        timeout=20000,
    )
    assert page.eval_on_selector("#camera", "img => img.naturalWidth") > 0

    # An instruction: the action's feedback, then its result.
    page.fill("#instruction", "use your left hand to touch the yellow cylinder")
    page.fill("#timeout", "6")
    page.click("#instruct")
    page.wait_for_function("document.getElementById('action').textContent.includes(': running')", timeout=20000)
    feedback = page.inner_text("#action")
    assert "chunks" in feedback and "touch the yellow cylinder" in feedback, feedback
    page.wait_for_timeout(2500)  # a few seconds of plot with chunk boundaries
    page.screenshot(path=str(shots / "console.png"), full_page=True)
    page.wait_for_function("document.getElementById('action').textContent.includes('timeout_reached')", timeout=30000)
    result = page.inner_text("#action")
    assert "done → timeout_reached" in result, result

    # E-stop: ESTOPPED on the page within 200 ms of the click (measured by the page's clock).
    latencies = []
    for trial in range(TRIALS):
        page.wait_for_function("document.getElementById('controller-state').textContent !== 'ESTOPPED'")
        page.click("#estop")
        page.wait_for_function("window.gr00tConsole.estoppedSeenAt !== null", timeout=5000, polling="raf")
        latency = page.evaluate("window.gr00tConsole.estoppedSeenAt - window.gr00tConsole.estopClickedAt")
        latencies.append(round(latency, 1))
        page.wait_for_function("window.gr00tConsole.estopReply !== null", timeout=5000)
        probe = page.evaluate(
            "[window.gr00tConsole.estopReply, window.gr00tConsole.estopClickedAt, window.gr00tConsole.estoppedSince]"
        )
        reply, clicked, since = probe
        # Where the time went: console receipt -> service answered, console receipt -> status received
        # (console clock), click -> reply (page clock).
        print(
            f"e-stop {trial}: shown after {latency:.1f} ms; "
            f"service answered {1000 * (reply['answered_t'] - reply['received_t']):.1f} ms "
            f"and status received {1000 * (since - reply['received_t']):.1f} ms after the console got the click; "
            f"reply on the page after {reply['at'] - clicked:.1f} ms"
        )
        assert sim_graph.api("/api/state")["controller"]["state"] == "ESTOPPED"
        if trial == 0:
            page.screenshot(path=str(shots / "console_estopped.png"), full_page=True)
        # Reset and enable from the page (the controller leaves ESTOPPED).
        page.click("#reset-estop")
        page.wait_for_function("document.getElementById('controller-state').textContent === 'DISABLED'", timeout=10000)
        page.click("#enable")
        page.wait_for_function("document.getElementById('controller-state').textContent !== 'DISABLED'", timeout=10000)
    print(f"e-stop click -> ESTOPPED shown: {latencies} ms")
    if report is not None:
        report.write_text(
            json.dumps(
                {
                    "what": "console e-stop: click in headless Chromium -> ESTOPPED shown on the page (page clock)",
                    "machine": "2-core CPU, shared, simulated graph (sim + System 2 + System 1 + console + recorder)",
                    "latencies_ms": latencies,
                    "median_ms": statistics.median(latencies),
                    "median_bound_ms": ESTOP_BOUND_MS,
                    "max_bound_ms": ESTOP_MAX_MS,
                    "load_average_1min": round(os.getloadavg()[0], 1),
                    "cpus": os.cpu_count(),
                },
                indent=2,
            )
            + "\n"
        )
    # The bound holds for the typical click; on a machine shared far beyond its cores (load average
    # ~18 on 2 cores was seen here) a single click can wait for the scheduler, so each one only has
    # to show ESTOPPED within a second.
    assert statistics.median(latencies) < ESTOP_BOUND_MS and max(latencies) < ESTOP_MAX_MS, latencies

    # The plot follows another joint group.
    page.select_option("#group", "left_arm")
    page.wait_for_timeout(1000)

    # A recording started and stopped from the page; its bag is on disk.
    page.fill("#record-task", "use your left hand to touch the yellow cylinder")
    page.click("#record-start")
    page.wait_for_function(
        "document.getElementById('recorder-state').textContent.startsWith('recording')", timeout=10000
    )
    page.wait_for_timeout(2000)
    page.screenshot(path=str(shots / "console_recording.png"), full_page=True)
    page.click("#record-success")
    page.wait_for_function(
        "document.getElementById('episodes').textContent.includes('(1 episodes: 1 ok')", timeout=15000
    )
    bags = [p for p in sim_graph.episodes_dir.iterdir() if p.is_dir()]
    assert len(bags) == 1 and list(bags[0].glob("*.mcap")), bags
    assert bags[0].name in page.inner_text("#last-episode")
    assert outside == [], outside  # nothing fetched from outside the console
    page.close()


def test_without_the_token_the_page_can_only_estop(sim_graph, browser):
    from playwright.sync_api import expect

    page = browser.new_page()  # under the console's Content-Security-Policy
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(sim_graph.url + "/")
    expect(page.locator("#auth")).to_have_text(re.compile("^no token"), timeout=15000)
    expect(page.locator("#token-row")).to_be_visible()
    page.fill("#instruction", "touch the red cube")
    page.click("#instruct")
    expect(page.locator("#message")).to_contain_text("token required", timeout=5000)
    state = sim_graph.api("/api/state")
    assert state["action"] is None or "red cube" not in state["action"]["instruction"]
    page.click("#estop")
    deadline = time.monotonic() + 5
    while sim_graph.api("/api/state")["controller"]["state"] != "ESTOPPED":
        assert time.monotonic() < deadline, "e-stop without the token did not reach the controller"
        time.sleep(0.05)
    expect(page.locator("#message")).to_contain_text("estop:", timeout=5000)
    assert errors == [], errors  # no script error, no Content-Security-Policy violation
    page.close()
