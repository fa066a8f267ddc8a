"""The README's pictures of the explorer, taken from the real browser: ``python3 docs/screenshots.py``.

Starts the explorer (the bundled LeNet-5) on a free port of 127.0.0.1, drives headless Chromium
(Selenium, the system's chromium and chromedriver) through the four pages the way a learner would
(draws a 2, picks a kernel, runs a configuration, clicks a layer) and writes
docs/explorer_{draw,kernels,arithmetic,model}.png, scaled to 1000 pixels wide.
Needs ``pip install -e ".[serve,test]"`` and ``apt-get install chromium chromium-driver``.
"""
from __future__ import annotations

import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import serve_browser as sb  # noqa: E402  (tests/serve_browser.py: the browser tests drive the pages the same way)

WIDTH = 1000


def save(driver, name: str, height: int) -> Path:
    from PIL import Image
    driver.set_window_size(1280, height)
    time.sleep(0.4)
    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
    path = ROOT / "docs" / f"explorer_{name}.png"
    image.quantize(colors=192, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")
    return path


def main() -> int:
    reason = sb.missing()
    if reason:
        print(f"docs/screenshots.py: {reason}", file=sys.stderr)
        return 2
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from cnnkit.serve import create_app
    from cnnkit.serve.server import background

    with background(create_app()) as url:
        driver = sb.chrome(1280, 1500)
        try:
            sb.open_page(driver, url, "draw")
            sb.draw_strokes(driver)
            sb.wait_for(driver, "Number(document.getElementById('page-draw').dataset.predictions || 0) >= 1")
            sb.settle(driver, "draw", "predictions")
            save(driver, "draw", 1460)

            sb.open_page(driver, url, "kernels")
            sb.wait_for(driver, "Number(document.getElementById('page-kernels').dataset.filtered || 0) >= 1")
            ActionChains(driver).move_to_element_with_offset(driver.find_element(By.ID, "k-result"), 60, -40).click().perform()
            sb.wait_for(driver, "Number(document.getElementById('page-kernels').dataset.probed || 0) >= 1")
            save(driver, "kernels", 1080)

            sb.open_page(driver, url, "arithmetic")
            info = driver.execute_script("return fetch('/api/info').then(r => r.json());")
            if info["features"]["animate"]:
                driver.find_element(By.CSS_SELECTOR, "[data-preset='same']").click()
                sb.wait_for(driver, "Number(document.getElementById('page-arithmetic').dataset.loaded || 0) >= 1")
                driver.find_element(By.ID, "a-play").click()                      # pause on an edge frame
                for _ in range(5):
                    driver.find_element(By.ID, "a-next").click()
            save(driver, "arithmetic", 900)

            sb.open_page(driver, url, "model")
            sb.wait_for(driver, "document.querySelectorAll('#m-table tbody tr').length")
            driver.find_element(By.CSS_SELECTOR, "#m-table tbody tr[data-layer='conv2']").click()
            sb.wait_for(driver, "document.getElementById('page-model').dataset.layerShown === 'conv2'")
            if info["features"]["explain"]:
                sb.wait_for(driver, "Number(document.getElementById('page-model').dataset.explained || 0) >= 1")
                sb.settle(driver, "model", "explained")
            save(driver, "model", 1040)
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
