"""Superset in a real browser, against the native stack with the demo's data (the
session's demo platform, tests/e2e/conftest.py).

The ``superset`` service (group ``superset`` of infra/native/services.yaml) is started
unless it already runs; only what this module started is stopped. Its init imported
the two connections and the three dashboards (phase5-analytics/superset/assets/).

- every chart of every dashboard answers its data query through the chart data API with
  rows (a failing dataset query is a failure, never an empty chart);
- the risk feed's latest high-risk predictions show the top reasons the scoring API
  answered, as the prediction log stored them (``predictions.top_reasons``);
- Debian's headless chromium (selenium) logs in, opens each dashboard and sees every
  chart rendered, with no error tile and no "no results" tile;
- SQL Lab runs ``SELECT count(*) FROM delta.gold.mart_fraud_features`` on Trino and shows
  the number Trino itself returns;
- a screenshot of each dashboard and of SQL Lab goes to pytest's tmp dir and, when
  SUPERSET_SCREENSHOTS_DIR is set, also there (docs/img/superset-*.png are made so).
"""

from __future__ import annotations

import os
import re
import shutil
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
import trino

from fraud_infra.stack import Stack
from fraud_testing.demo import Demo
from fraud_testing.stack import group_running

pytestmark = pytest.mark.e2e

GROUP = "superset"
SERVICE = "superset"
DASHBOARDS = {
    "transaction-overview": "Transaction Overview",
    "fraud-analytics": "Fraud Analytics",
    "real-time-risk-feed": "Real-Time Risk Feed",
}
SQLLAB_QUERY = "SELECT count(*) FROM delta.gold.mart_fraud_features"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
RENDER_TIMEOUT = 120
#: where SQL Lab shows a result set
RESULT_GRIDS = '[data-test="table-container"], .ReactVirtualized__Grid, [role="grid"]'


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def superset_stack(native_stack: Stack, demo: Demo) -> Iterator[Stack]:
    with group_running(native_stack, GROUP, "Superset") as stack:
        yield stack


@pytest.fixture(scope="module")
def base_url(superset_stack: Stack) -> str:
    url = superset_stack.services[SERVICE].url
    assert url, "superset declares no url"
    return url.rstrip("/")


@pytest.fixture(scope="module")
def login(superset_stack: Stack) -> tuple[str, str]:
    env = superset_stack.env
    return env["SUPERSET_ADMIN_USER"], env["SUPERSET_ADMIN_PASSWORD"]


def gold_feature_count() -> int:
    """``SQLLAB_QUERY``'s answer now, straight from Trino."""
    conn = trino.dbapi.connect(  # type: ignore[no-untyped-call]
        host="127.0.0.1", port=8085, user="superset-test", catalog="delta"
    )
    cur = conn.cursor()
    cur.execute(SQLLAB_QUERY)
    return int(cur.fetchall()[0][0])


@pytest.fixture(scope="module")
def demo_data(superset_stack: Stack) -> dict[str, int]:
    """Rows the dashboards read (the session's demo made them); missing data fails: a
    dashboard without data is not a rendered dashboard."""
    env = superset_stack.env
    try:
        features = gold_feature_count()
    except trino.exceptions.TrinoUserError as err:
        pytest.fail(f"no gold tables (run `make demo` first): {err.message}", pytrace=False)
    with psycopg.connect(reader_dsn(env)) as pg:
        row = pg.execute(
            "SELECT (SELECT count(*) FROM predictions), "
            "(SELECT count(*) FROM predictions WHERE risk_tier = 'high'), "
            "(SELECT count(*) FROM model_live_metrics)"
        ).fetchone()
    assert row is not None
    counts = {"features": features, "predictions": row[0], "high": row[1], "monitor": row[2]}
    if not all(counts.values()):
        pytest.fail(
            f"the demo's data is incomplete (run `make demo` first): {counts}", pytrace=False
        )
    return counts


@pytest.fixture(scope="module")
def api(base_url: str, login: tuple[str, str]) -> requests.Session:
    """A REST session: JWT bearer plus the CSRF token (CSRF protection is on)."""
    session = requests.Session()
    res = session.post(
        f"{base_url}/api/v1/security/login",
        json={"username": login[0], "password": login[1], "provider": "db", "refresh": True},
        timeout=30,
    )
    res.raise_for_status()
    session.headers["Authorization"] = f"Bearer {res.json()['access_token']}"
    csrf = session.get(f"{base_url}/api/v1/security/csrf_token/", timeout=30)
    csrf.raise_for_status()
    session.headers["X-CSRFToken"] = csrf.json()["result"]
    session.headers["Referer"] = base_url
    return session


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    dirs = [tmp_path_factory.mktemp("superset-screenshots")]
    extra = os.environ.get("SUPERSET_SCREENSHOTS_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        dirs.append(Path(extra))
    return dirs


@pytest.fixture(scope="module")
def browser(base_url: str, login: tuple[str, str]) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    if not Path(CHROMEDRIVER).exists():
        pytest.fail("chromium-driver is not installed (infra/native/install/superset.sh)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1600,1400")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(f"{base_url}/login/")
        wait = WebDriverWait(driver, 60)
        user = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input#username")))
        user.send_keys(login[0])
        driver.find_element(By.CSS_SELECTOR, "input#password").send_keys(login[1])
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: "/login" not in d.current_url)
        yield driver
    finally:
        driver.quit()


def save(driver: Any, dirs: list[Path], name: str) -> None:
    png = driver.get_screenshot_as_png()
    for d in dirs:
        (d / f"superset-{name}.png").write_bytes(png)


# ----------------------------------------------------------------------------- helpers
def reader_dsn(env: dict[str, str]) -> str:
    """The prediction log through Superset's read-only role."""
    return (
        f"host=127.0.0.1 port=5432 dbname=predictions user=predictions_reader "
        f"password={env['PREDICTIONS_READER_DB_PASSWORD']} connect_timeout=5"
    )


def query_context(chart: dict[str, Any]) -> dict[str, Any]:
    """A minimal query context from a chart's form data: its columns and metrics, no
    viz-specific post-processing (what matters here is that the query answers rows)."""
    form = chart["form_data"]
    ds_id, ds_type = form["datasource"].split("__")
    metrics = form.get("metrics") or ([form["metric"]] if form.get("metric") else [])
    columns: list[Any] = []
    if form.get("x_axis"):
        grain = form.get("time_grain_sqla")
        columns.append(
            {
                "columnType": "BASE_AXIS",
                "sqlExpression": form["x_axis"],
                "label": form["x_axis"],
                "expressionType": "SQL",
                "timeGrain": grain,
            }
            if grain
            else form["x_axis"]
        )
    columns += form.get("groupby") or []
    columns += form.get("all_columns") or []
    if form.get("column"):
        columns.append(form["column"])
    return {
        "datasource": {"id": int(ds_id), "type": ds_type},
        "force": True,
        "queries": [
            {
                "columns": columns,
                "metrics": metrics,
                "filters": [],
                "extras": {
                    "where": " AND ".join(
                        f"({f['sqlExpression']})"
                        for f in form.get("adhoc_filters", [])
                        if f.get("expressionType") == "SQL"
                    )
                },
                "row_limit": 100,
                "orderby": [],
            }
        ],
        "result_format": "json",
        "result_type": "full",
    }


def dashboard_charts(api: requests.Session, base_url: str, slug: str) -> list[dict[str, Any]]:
    res = api.get(f"{base_url}/api/v1/dashboard/{slug}/charts", timeout=30)
    assert res.status_code == 200, f"dashboard {slug}: {res.status_code} {res.text[:300]}"
    charts: list[dict[str, Any]] = res.json()["result"]
    return charts


# ----------------------------------------------------------------------------- tests
def test_the_three_dashboards_are_imported(api: requests.Session, base_url: str) -> None:
    res = api.get(f"{base_url}/api/v1/dashboard/", params={"q": "(page_size:100)"}, timeout=30)
    res.raise_for_status()
    titles = {d["dashboard_title"]: d["slug"] for d in res.json()["result"]}
    for slug, title in DASHBOARDS.items():
        assert titles.get(title) == slug


@pytest.mark.parametrize("slug", list(DASHBOARDS))
def test_every_chart_query_answers_rows(
    api: requests.Session, base_url: str, demo_data: dict[str, int], slug: str
) -> None:
    charts = dashboard_charts(api, base_url, slug)
    assert charts, f"dashboard {slug} has no charts"
    failures = []
    for chart in charts:
        res = api.post(f"{base_url}/api/v1/chart/data", json=query_context(chart), timeout=120)
        name = chart["slice_name"]
        if res.status_code != 200:
            failures.append(f"{name}: HTTP {res.status_code} {res.text[:300]}")
            continue
        result = res.json()["result"][0]
        if result.get("error"):
            failures.append(f"{name}: {result['error']}")
        elif not result.get("rowcount"):
            failures.append(f"{name}: no rows")
    assert not failures, "\n".join(failures)


def test_risk_feed_shows_the_top_reasons_the_api_answered(
    api: requests.Session, base_url: str, superset_stack: Stack, demo_data: dict[str, int]
) -> None:
    """The feed's ``top_reasons`` text of each of the latest high-risk predictions names
    the features of the logged reasons (the API's answer), in the answer's order."""
    charts = dashboard_charts(api, base_url, "real-time-risk-feed")
    feed = next(c for c in charts if c["slice_name"] == "Latest high-risk predictions")
    assert "top_reasons" in feed["form_data"]["all_columns"]
    context = query_context(feed)
    context["queries"][0]["orderby"] = [["predicted_at", False]]  # the latest, as the chart
    res = api.post(f"{base_url}/api/v1/chart/data", json=context, timeout=120)
    assert res.status_code == 200, res.text[:300]
    shown = {row["transaction_id"]: row["top_reasons"] for row in res.json()["result"][0]["data"]}
    with psycopg.connect(reader_dsn(superset_stack.env)) as pg:
        logged: dict[str, list[dict[str, Any]]] = dict(
            pg.execute(
                "SELECT transaction_id, top_reasons FROM predictions"
                " WHERE transaction_id = ANY(%s)",
                (list(shown),),
            ).fetchall()
        )
    assert set(logged) == set(shown)
    with_reasons = [tid for tid in shown if logged[tid]]
    assert with_reasons, "no high-risk prediction in the feed has the API's top reasons logged"
    for tid, text in shown.items():
        names = [part.split(" = ")[0] for part in text.split("; ")] if text else []
        assert names == [r["feature"] for r in logged[tid]], (tid, text, logged[tid])


@pytest.mark.parametrize("slug", list(DASHBOARDS))
def test_dashboard_renders_every_chart_in_the_browser(
    browser: Any,
    api: requests.Session,
    base_url: str,
    demo_data: dict[str, int],
    screenshots: list[Path],
    slug: str,
) -> None:
    from selenium.webdriver.common.by import By

    expected = len(dashboard_charts(api, base_url, slug))
    browser.get(f"{base_url}/superset/dashboard/{slug}/")
    deadline = time.monotonic() + RENDER_TIMEOUT
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = browser.execute_script(
            """
            const holders = [...document.querySelectorAll('[data-test="chart-grid-component"]')];
            const out = {charts: holders.length, loading: 0, rendered: 0, errors: [], empty: []};
            for (const h of holders) {
              const name = (h.querySelector('[data-test="editable-title"], .header-title')
                            || {}).innerText || '?';
              if (h.querySelector('.loading, [aria-label="Loading"]')) { out.loading++; continue; }
              if (h.querySelector('[data-test="error-tile"], .alert-danger, .ant-alert-error,'
                                  + ' [role="alert"]')) { out.errors.push(name); continue; }
              const text = h.innerText || '';
              if (/No results were returned|No data|Unexpected error/i.test(text)) {
                out.empty.push(name); continue; }
              if (h.querySelector('canvas, svg, table, .superset-legacy-chart-big-number,'
                                  + ' [data-test="big-number"]')) out.rendered++;
            }
            return out;
            """
        )
        if (
            state["charts"] >= expected
            and state["loading"] == 0
            and (state["rendered"] + len(state["errors"]) + len(state["empty"]) >= expected)
        ):
            break
        time.sleep(1)
    time.sleep(1.5)  # let the echarts animations settle for the screenshot
    browser.execute_script("window.scrollTo(0, 0)")
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1600, max(1000, min(int(height) + 100, 4000)))
    time.sleep(1)
    save(browser, screenshots, slug)
    browser.set_window_size(1600, 1400)
    assert browser.find_elements(By.CSS_SELECTOR, '[data-test="chart-grid-component"]')
    assert state.get("charts") == expected, f"{slug}: {state}"
    assert not state["errors"], f"{slug}: charts with an error tile: {state['errors']}"
    assert not state["empty"], f"{slug}: charts without data: {state['empty']}"
    assert state["loading"] == 0, f"{slug}: charts still loading after {RENDER_TIMEOUT}s"
    assert state["rendered"] == expected, f"{slug}: {state}"


def test_sql_lab_counts_the_gold_features_on_trino(
    browser: Any,
    api: requests.Session,
    base_url: str,
    demo_data: dict[str, int],
    screenshots: list[Path],
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    res = api.get(f"{base_url}/api/v1/database/", timeout=30)
    res.raise_for_status()
    trino_db = next(d for d in res.json()["result"] if d["backend"] == "trino")
    tables = api.get(
        f"{base_url}/api/v1/database/{trino_db['id']}/tables/",
        params={"q": "(schema_name:gold,catalog_name:delta)"},
        timeout=60,
    )
    assert tables.status_code == 200, tables.text[:300]
    names = {t["value"] for t in tables.json()["result"]}
    assert {"mart_fraud_features", "mart_hourly_metrics"} <= names, names

    params = urllib.parse.urlencode({"dbid": trino_db["id"], "sql": SQLLAB_QUERY})
    browser.get(f"{base_url}/sqllab/?{params}")
    wait = WebDriverWait(browser, 90)
    run = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-test="run-query-action"]'))[
        0
    ]
    time.sleep(2)  # the editor loads the requested query
    # The platform keeps itself fresh (the demo unpaused fraud_pipeline: a scheduled run
    # merged 16,924 rows into gold while this test ran in CI), so SQL Lab's answer must lie
    # between Trino's count just before the query and just after it.
    before = gold_feature_count()
    run.click()

    def shown(d: Any) -> int | None:
        for el in d.find_elements(By.CSS_SELECTOR, RESULT_GRIDS):
            for token in re.findall(r"\d[\d,]*", el.text or ""):
                if (n := int(token.replace(",", ""))) >= before:
                    return n
        return None

    value = wait.until(shown)
    assert value is not None
    after = gold_feature_count()
    assert before <= value <= after, f"SQL Lab shows {value:,}; Trino: {before:,} .. {after:,}"
    time.sleep(1)
    save(browser, screenshots, "sqllab")
