"""Driving the explorer in headless Chromium (Selenium): shared by tests/test_serve_browser.py and
docs/screenshots.py, which takes the README's pictures the same way."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def missing() -> str | None:
    """Why the browser cannot run here, or ``None``."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    chromium = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    driver = CHROMEDRIVER if CHROMEDRIVER.exists() else shutil.which("chromedriver")
    if not chromium or not driver:
        return "Chromium or chromedriver is missing (apt-get install chromium chromium-driver)"
    return None


def chrome(width: int = 1400, height: int = 1000, scale: float = 1.0):
    """Headless Chromium (the system one) driven through the system chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    options = Options()
    options.binary_location = str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium"))
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", f"--force-device-scale-factor={scale}", "--lang=en-GB"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(str(CHROMEDRIVER if CHROMEDRIVER.exists() else shutil.which("chromedriver")))
    return webdriver.Chrome(service=service, options=options)


def wait_for(driver, script: str, timeout: float = 15.0, what: str = ""):
    """Poll ``return (script)`` in the page until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what or script}")
        time.sleep(0.05)


def counter(driver, page: str, key: str) -> int:
    """A page's ``data-KEY`` counter (how many answers it has drawn)."""
    return int(driver.execute_script(f"return document.getElementById('page-{page}').dataset.{key} || 0;"))


def settle(driver, page: str, key: str, quiet: float = 0.5, timeout: float = 15.0) -> int:
    """Wait until a page's ``data-KEY`` counter stops moving for ``quiet`` seconds (all answers drawn)."""
    deadline = time.monotonic() + timeout
    value, since = counter(driver, page, key), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the {page} page kept drawing new answers for {timeout:g} s")
        time.sleep(0.05)
        now = counter(driver, page, key)
        if now != value:
            value, since = now, time.monotonic()
    return value


def open_page(driver, url: str, page: str) -> None:
    if "#" not in driver.current_url or not driver.current_url.startswith(url):
        driver.get(f"{url}#{page}")
        wait_for(driver, "document.body.dataset.ready === 'true'", what="the explorer to start")
    else:
        driver.execute_script(f"location.hash = '{page}';")
    wait_for(driver, f"!document.getElementById('page-{page}').hidden", what=f"the {page} page")


#: A "2" as pointer moves (offsets in CSS pixels from the canvas centre, then relative steps).
TWO = [(-55, -70), (30, -25), (40, 0), (30, 30), (-5, 45), (-40, 45), (-40, 40), (-20, 25), (60, 0), (55, 0)]


def draw_strokes(driver, element_id: str = "draw-canvas", path=TWO) -> None:
    """Press, move and release on the canvas with W3C pointer actions (Chrome sends pointer events)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    canvas = driver.find_element(By.ID, element_id)
    chain = ActionChains(driver, duration=25)
    (x, y), rest = path[0], path[1:]
    chain.move_to_element_with_offset(canvas, x, y).click_and_hold()
    for dx, dy in rest:
        for _ in range(3):                      # several pointermove events per segment, as a hand makes
            chain.move_by_offset(dx // 3, dy // 3)
    chain.release().perform()


CANVAS_COLOURS = """
const c = arguments[0], d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
const seen = new Set();
for (let i = 0; i < d.length && seen.size < 50; i += 4) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
return seen.size;
"""


def colours(driver, element) -> int:
    """How many distinct colours a canvas holds (capped at 50): 1 means blank."""
    return int(driver.execute_script(CANVAS_COLOURS, element))
