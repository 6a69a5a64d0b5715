"""`graph --format html` in a real browser (headless Chromium through chromedriver): the page loads with no console
error, clicking a role highlights exactly its edges, the filters and the exposure toggle hide what they should, the
side panel lists each flow's rules, labels stay readable; a screenshot of every example (slow).

Skipped where Chromium, chromedriver or selenium is missing (`apt-get install chromium chromium-driver`; .ci/run
installs them). One browser for the whole module: starting Chromium costs about a second.

Screenshots go to $CLOUDPORTS_ARTEFACTS (else a temporary folder). With CLOUDPORTS_DOC_IMAGES=1,
test_docs_pictures rewrites the README's pictures in docs/images/.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudports.cli import main
from cloudports.pipeline import compile_spec, desired_state
from cloudports.targets import registry
from tests.support import pictures

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*/topology.yaml"))
D365 = ROOT / "examples" / "dynamics365-distributed" / "topology.yaml"
THREE_TIER = ROOT / "examples" / "three-tier-web" / "topology.yaml"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
# Without the background-networking flags Chromium reaches for Google's services, which a closed network refuses
# (and logs as errors).
FLAGS = [
    *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
    *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
    *("--window-size=1920,1080", "--hide-scrollbars"),
]
READABLE_PX = 11

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium and chromium-driver not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="cloudports-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("CLOUDPORTS_ARTEFACTS")
    path = Path(folder) / "graph-pages" if folder else tmp_path_factory.mktemp("graph-pages")
    path.mkdir(parents=True, exist_ok=True)
    return path


def page_of(spec: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    target = out / f"{spec.parent.name}.html"
    assert main(["graph", str(spec), "--format", "html", "--out", str(target)]) == 0
    capsys.readouterr()
    return target


def load(browser: WebDriver, page: Path) -> None:
    browser.get_log("browser")  # what an earlier page logged is not this page's
    browser.get(page.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert errors == []


def click_node(browser: WebDriver, name: str) -> None:
    """A real click on the node's box, near its top (its badges, lower down, are links of their own)."""
    rect = browser.find_element(By.CSS_SELECTOR, f'[id="node-{name}"] rect')
    ActionChains(browser).move_to_element_with_offset(rect, 0, -rect.size["height"] / 2 + 8).click().perform()


def edges_with(browser: WebDriver, css: str) -> set[tuple[str, str]]:
    script = "return [...document.querySelectorAll(arguments[0])].map(e => [e.dataset.from, e.dataset.to])"
    return {tuple(pair) for pair in browser.execute_script(script, css)}


def visible_edges(browser: WebDriver) -> set[tuple[str, str]]:
    return edges_with(browser, ".edge:not(.hidden)")


def spec_pairs(spec: Path, keep=lambda flow: True) -> set[tuple[str, str]]:
    """Every (source, destination) of the spec's flows that `keep` accepts, computed from the spec alone."""
    topo = compile_spec(spec).topology
    return {
        (src, dst)
        for flow in [*topo.flows, *topo.skipped_flows]
        if keep(flow)
        for src in flow.sources
        for dst in flow.destinations
        if src != dst
    }


def set_filter(browser: WebDriver, element_id: str, value: str) -> None:
    field = browser.find_element(By.ID, element_id)
    field.clear()
    if value:
        field.send_keys(value)


def test_clicking_a_role_highlights_exactly_its_edges(
    browser: WebDriver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load(browser, page_of(D365, tmp_path, capsys))
    pairs = spec_pairs(D365)
    assert visible_edges(browser) == pairs  # every flow drawn, one edge per source and destination
    for role in sorted(compile_spec(D365).topology.roles):
        click_node(browser, role)
        assert edges_with(browser, ".edge.in") == {(s, d) for s, d in pairs if d == role}, role
        assert edges_with(browser, ".edge.out") == {(s, d) for s, d in pairs if s == role}, role
        assert browser.find_element(By.CSS_SELECTOR, "#panel h2").text == role
    browser.find_element(By.TAG_NAME, "body").send_keys("\ue00c")  # Escape: nothing selected
    assert edges_with(browser, ".edge.in, .edge.out") == set()


def test_the_panel_lists_a_roles_flows_and_each_targets_rules(
    browser: WebDriver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load(browser, page_of(THREE_TIER, tmp_path, capsys))
    click_node(browser, "db")
    panel = browser.find_element(By.ID, "panel")
    inbound = panel.find_element(By.CSS_SELECTOR, 'section[data-way="in"]')
    assert [e.text for e in inbound.find_elements(By.CSS_SELECTOR, "li.flow > strong")] == ["from app", "from bastion"]
    assert "spec topology.yaml:57" in inbound.text and "postgres: tcp/5432" in inbound.text
    # the rules `show` lists for the flows into db that let traffic reach db: its ingress and the senders' egress
    policy = compile_spec(THREE_TIER)
    into_db = {str(f.loc) for f in policy.topology.flows if "db" in f.destinations}
    reaching_db = {
        "aws": lambda row: (
            row["group"] == "tier3-db" if row["direction"] == "ingress" else row["peer"] == "sg tier3-db"
        ),
        "azure": lambda row: "three-tier-web-db-asg" in row["destination"],
    }
    for target, reaches in reaching_db.items():
        rows = registry.get(target).rows(desired_state(policy, target))
        expected = {
            row.get("key") or row["name"] for row in rows if set(row["origin"].split(", ")) & into_db and reaches(row)
        }
        shown = inbound.find_elements(By.CSS_SELECTOR, f'ul.rules[data-target="{target}"] li')
        assert expected and {e.text for e in shown} == expected, target


def test_filters_hide_what_they_should(browser: WebDriver, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load(browser, page_of(D365, tmp_path, capsys))
    set_filter(browser, "service", "tcp/1433")
    assert visible_edges(browser) == spec_pairs(D365, lambda f: "tcp/1433" in map(str, f.ports))
    set_filter(browser, "service", "mssql")
    assert visible_edges(browser) == spec_pairs(D365, lambda f: "mssql" in f.service_names)
    set_filter(browser, "service", "")
    phase = Select(browser.find_element(By.ID, "phase"))
    phase.select_by_value("setup")
    setup = spec_pairs(D365, lambda f: f.phase == "setup")
    assert setup and visible_edges(browser) == setup
    phase.select_by_value("-")
    assert visible_edges(browser) == spec_pairs(D365, lambda f: f.phase is None)
    phase.select_by_value("")
    # a target shows what it builds rules for: the setup phase is not compiled without --phase setup
    Select(browser.find_element(By.ID, "target")).select_by_value("aws")
    assert visible_edges(browser) == spec_pairs(D365, lambda f: f.phase is None)
    Select(browser.find_element(By.ID, "target")).select_by_value("")
    assert visible_edges(browser) == spec_pairs(D365)


def test_exposure_is_red_with_its_reason_and_can_be_shown_alone(
    browser: WebDriver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load(browser, page_of(THREE_TIER, tmp_path, capsys))
    assert edges_with(browser, ".edge.flagged") == {("internet", "lb")}  # plain HTTP next to HTTPS
    line = browser.find_element(By.CSS_SELECTOR, ".edge.flagged .line")
    assert line.value_of_css_property("stroke") == "rgb(198, 40, 40)"
    assert "plain HTTP (tcp/80) is open to the internet on 'lb'" in browser.find_element(By.ID, "panel").text
    browser.find_element(By.ID, "exposure").click()
    assert visible_edges(browser) == {("internet", "lb")}
    browser.find_element(By.ID, "exposure").click()
    assert visible_edges(browser) == spec_pairs(THREE_TIER)


def test_a_mesh_is_one_badge_per_member_not_edges(
    browser: WebDriver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = pictures.write(pictures.three_tier_with_ping_mesh(), tmp_path / "mesh")
    load(browser, page_of(spec, tmp_path, capsys))
    members = pictures.PING_MESH["from"]
    badges = browser.find_elements(By.CSS_SELECTOR, ".badge.mesh")
    assert sorted(b.find_element(By.XPATH, "..").get_attribute("data-name") for b in badges) == sorted(members)
    script = "return [...document.querySelectorAll('.edge')].map(e => [e.dataset.from, e.dataset.to, e.textContent])"
    drawn = browser.execute_script(script)
    assert not [e for e in drawn if e[0] in members and e[1] in members and "ping" in e[2]]  # not 12 lines
    assert [e[:2] for e in drawn if "ping" in e[2]] == [["ops", "bastion"]]  # the spec's other ping flow
    badges[0].click()
    assert "mesh: every one of app, bastion, db, lb" in browser.find_element(By.ID, "panel").text
    highlighted = browser.find_elements(By.CSS_SELECTOR, ".node.member")
    assert sorted(n.get_attribute("data-name") for n in highlighted) == sorted(members)


def test_fifty_roles_read_at_the_default_zoom_and_pan_and_zoom(
    browser: WebDriver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = pictures.write(pictures.fifty_roles(), tmp_path / "fifty")
    load(browser, page_of(spec, tmp_path, capsys))
    smallest = browser.execute_script(
        "const scale = Number(document.getElementById('picture').dataset.scale);"
        "return Math.min(...[...document.querySelectorAll('#picture text')]"
        ".map(t => parseFloat(getComputedStyle(t).fontSize) * scale))"
    )
    assert smallest >= READABLE_PX
    scale = float(browser.find_element(By.ID, "picture").get_attribute("data-scale"))
    canvas = browser.find_element(By.ID, "canvas")
    ActionChains(browser).scroll_from_origin(ScrollOrigin.from_element(canvas), 0, 300).perform()  # zoom out
    assert float(browser.find_element(By.ID, "picture").get_attribute("data-scale")) < scale
    before = browser.find_element(By.ID, "viewport").get_attribute("transform")
    ActionChains(browser).move_to_element(canvas).click_and_hold().move_by_offset(120, 80).release().perform()
    assert browser.find_element(By.ID, "viewport").get_attribute("transform") != before
    set_filter(browser, "search", "db-0")
    assert len(browser.find_elements(By.CSS_SELECTOR, ".node.match")) == 6


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_opens_cleanly_with_a_screenshot(
    example: Path, browser: WebDriver, artefacts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load(browser, page_of(example, tmp_path, capsys))
    roles = sorted(compile_spec(example).topology.roles)
    click_node(browser, roles[0])
    assert browser.find_element(By.CSS_SELECTOR, "#panel h2").text == roles[0]
    assert browser.get_log("browser") == []
    assert browser.save_screenshot(str(artefacts / f"{example.parent.name}.png"))


DOC_IMAGES = ROOT / "docs" / "images"


@pytest.mark.skipif(not os.environ.get("CLOUDPORTS_DOC_IMAGES"), reason="set CLOUDPORTS_DOC_IMAGES=1 to rewrite them")
def test_docs_pictures(browser: WebDriver, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's pictures of the page: d365 with sql selected, three-tier-web's ping mesh, 50 roles."""
    DOC_IMAGES.mkdir(parents=True, exist_ok=True)
    mesh = pictures.write(pictures.three_tier_with_ping_mesh(), tmp_path / "three-tier-web")
    fifty = pictures.write(pictures.fifty_roles(), tmp_path / "shop-50")
    shots = [  # spec, the role selected, the window (large enough for the whole picture at the default zoom)
        (D365, "sql", (1700, 800), "graph-d365-sql.png"),
        (mesh, "app", (1500, 650), "graph-ping-mesh.png"),
        (fifty, "api-03", (1850, 1300), "graph-50-roles.png"),
    ]
    try:
        for spec, role, (width, height), name in shots:
            browser.set_window_size(width, height)
            load(browser, page_of(spec, tmp_path, capsys))
            click_node(browser, role)
            assert browser.save_screenshot(str(DOC_IMAGES / name))
    finally:
        browser.set_window_size(1920, 1080)
