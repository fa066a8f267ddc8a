"""The explorer end to end in a real headless browser (Chromium from the Debian packages, driven by
Selenium): the server runs in a thread on a free port of 127.0.0.1; each page is loaded, a digit is
drawn with pointer events, a kernel and a stride are changed, a bad upload shows its error.
Screenshots go to tests/artifacts/ (git-ignored)."""
from __future__ import annotations

import base64
import json
import io
import os
from pathlib import Path

import numpy as np
import pytest

import serve_browser as sb

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
REASON = sb.missing()
if REASON:
    pytest.skip(REASON, allow_module_level=True)
pytest.importorskip("uvicorn")
PIL = pytest.importorskip("PIL.Image")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from cnnkit.data import to_mnist_digit  # noqa: E402
from cnnkit.serve import create_app  # noqa: E402
from cnnkit.serve.server import background  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def url():
    data = Path(os.environ.get("CNNKIT_DATA", "")) / "mnist"
    with background(create_app(data_dir=data if data.is_dir() else None, replicas=2)) as address:
        yield address


@pytest.fixture(scope="module")
def driver():
    browser = sb.chrome()
    try:
        yield browser
    finally:
        browser.quit()


def shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def no_console_errors(driver) -> None:
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]
              and "the server answered" not in e["message"] and "Failed to load resource" not in e["message"]]
    assert not errors, errors


def upload(driver, input_id: str, path: Path) -> None:
    driver.find_element(By.ID, input_id).send_keys(str(path))


def test_draw_a_digit(driver, url):
    sb.open_page(driver, url, "draw")
    sb.draw_strokes(driver)
    sb.wait_for(driver, "Number(document.getElementById('page-draw').dataset.predictions || 0) >= 1",
                what="a prediction")
    sb.settle(driver, "draw", "predictions")
    predicted = driver.find_element(By.ID, "prediction").text
    assert predicted in list("0123456789")
    bars = driver.find_elements(By.CSS_SELECTOR, "#probabilities .prob")
    assert len(bars) == 10
    assert driver.find_element(By.CSS_SELECTOR, "#probabilities .top").get_attribute("data-digit") == predicted
    # every layer's activations are drawn, and no map of conv1 is blank
    rows = driver.find_elements(By.CSS_SELECTOR, "#layers .layer-row")
    assert [r.get_attribute("data-layer") for r in rows] == ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3"]
    for row in rows:
        tiles = row.find_elements(By.CSS_SELECTOR, ".tiles canvas")
        assert tiles and max(sb.colours(driver, t) for t in tiles) > 1, row.get_attribute("data-layer")
    assert min(sb.colours(driver, t) for t in rows[0].find_elements(By.CSS_SELECTOR, ".tiles canvas")) > 1
    # the small 28x28 is the server's to_mnist_digit of exactly the pixels the page sent
    drawing = np.array(driver.execute_script("return window.cnnkitLastDrawing;"), dtype=np.float64)
    assert drawing.shape == (140, 140) and drawing.max() == 255
    preview = driver.execute_script("""
        const c = document.getElementById('digit-preview'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const out = [];
        for (let y = 0; y < 28; y++) { const row = []; for (let x = 0; x < 28; x++) row.push(d[4 * ((6 * y + 3) * c.width + 6 * x + 3)]); out.push(row); }
        return out;""")
    np.testing.assert_array_equal(np.array(preview), to_mnist_digit(drawing, invert=False))
    # hovering a conv2 unit shows its receptive field on the digit
    from selenium.webdriver.common.action_chains import ActionChains
    tile = rows[2].find_elements(By.CSS_SELECTOR, ".tiles canvas")[0]
    cell = driver.execute_script("return arguments[0].clientWidth / 10;", tile)
    ActionChains(driver).move_to_element_with_offset(tile, round(cell / 2), round(cell / 2)).perform()  # unit (5, 5)
    readout = sb.wait_for(driver, "document.getElementById('draw-readout').textContent.includes('14x14') && "
                                  "document.getElementById('draw-readout').textContent", what="the hover readout")
    # the tile's centre is unit (5, 5) of a 10x10 map: conv2's 14x14 field, jump 2, unit 0 centred on
    # pixel 6.5 of the padded 32x32 input, spans pixels 10..23 there, 8..21 of the 28x28 digit
    assert readout.startswith("conv2: map 0, row 5, column 5") and "rows 8–21, columns 8–21" in readout, readout
    shot(driver, "draw")
    no_console_errors(driver)


def test_kernels_page_follows_the_kernel(driver, url):
    sb.open_page(driver, url, "kernels")
    sb.wait_for(driver, "Number(document.getElementById('page-kernels').dataset.filtered || 0) >= 1",
                what="the first filtered picture")
    first = driver.find_element(By.ID, "k-result").get_attribute("src")
    assert driver.find_element(By.ID, "k-separable").text == "yes"            # sobel_x = [1 2 1]^T [-1 0 1]
    count = sb.counter(driver, "kernels", "filtered")
    Select(driver.find_element(By.ID, "k-kernel")).select_by_value("sharpen")
    sb.wait_for(driver, f"Number(document.getElementById('page-kernels').dataset.filtered) > {count}")
    sharpened = driver.find_element(By.ID, "k-result").get_attribute("src")
    assert sharpened != first and driver.find_element(By.ID, "k-separable").text == "no"
    shown = np.asarray(PIL.open(io.BytesIO(base64.b64decode(sharpened.split(",", 1)[1]))))
    from cnnkit.filtering import filter2d, to_display
    from cnnkit.kernels import get_kernel
    from cnnkit.samples import sample_image
    np.testing.assert_array_equal(shown, to_display(filter2d(sample_image("camera"), get_kernel("sharpen")), "clip"))
    # typing a weight makes the kernel custom and refilters
    count = sb.counter(driver, "kernels", "filtered")
    cell = driver.find_element(By.CSS_SELECTOR, "#k-matrix input[data-row='1'][data-col='1']")
    cell.clear()
    cell.send_keys("9")
    sb.wait_for(driver, f"Number(document.getElementById('page-kernels').dataset.filtered) > {count}")
    assert Select(driver.find_element(By.ID, "k-kernel")).first_selected_option.get_attribute("value") == "custom"
    assert driver.find_element(By.ID, "k-result").get_attribute("src") != sharpened
    # clicking the result shows the sum behind that pixel
    from selenium.webdriver.common.action_chains import ActionChains
    ActionChains(driver).move_to_element_with_offset(driver.find_element(By.ID, "k-result"), 10, 10).click().perform()
    sb.wait_for(driver, "Number(document.getElementById('page-kernels').dataset.probed || 0) >= 1", what="the probe")
    tables = driver.find_elements(By.CSS_SELECTOR, "#k-probe table")
    assert len(tables) == 3 and len(tables[0].find_elements(By.TAG_NAME, "td")) == 9
    assert "cnnkit.filter2d gives" in driver.find_element(By.ID, "k-probe").text
    shot(driver, "kernels")


def test_bad_upload_shows_its_error(driver, url, tmp_path):
    sb.open_page(driver, url, "kernels")
    bad = tmp_path / "holiday.png"
    bad.write_text("not a picture at all")
    upload(driver, "k-upload", bad)
    text = sb.wait_for(driver, "!document.getElementById('k-error').hidden && document.getElementById('k-error').textContent",
                       what="the upload error")
    assert "holiday.png is not an image" in text
    shot(driver, "kernels_bad_upload")
    sb.open_page(driver, url, "draw")
    upload(driver, "draw-upload", bad)
    text = sb.wait_for(driver, "!document.getElementById('draw-error').hidden && document.getElementById('draw-error').textContent")
    assert "holiday.png is not an image" in text


def test_arithmetic_page(driver, url):
    sb.open_page(driver, url, "arithmetic")
    animate = driver.execute_script("return fetch('/api/info').then(r => r.json()).then(i => i.features.animate);")
    if not animate:   # the panel says what it lacks instead of drawing something made up
        text = sb.wait_for(driver, "document.getElementById('a-error').textContent")
        assert "cnnkit.animate" in text
        shot(driver, "arithmetic")
        pytest.skip("cnnkit.animate (issue 11) is not in this build: the page shows that instead of an animation")
    sb.wait_for(driver, "Number(document.getElementById('page-arithmetic').dataset.loaded || 0) >= 1")
    assert driver.find_element(By.ID, "a-formula").text.endswith("= 3")          # 5x5, kernel 3, stride 1
    count = sb.counter(driver, "arithmetic", "loaded")
    stride = driver.find_element(By.ID, "a-s-h")
    stride.clear()
    stride.send_keys("2")
    sb.wait_for(driver, f"Number(document.getElementById('page-arithmetic').dataset.loaded) > {count}")
    formula = driver.find_element(By.ID, "a-formula").text
    assert "H_out = floor((5 + 0 + 0 - 1*(3 - 1) - 1) / 2) + 1 = 2" in formula and "W_out" in formula
    assert sb.colours(driver, driver.find_element(By.ID, "a-canvas")) > 3
    assert "out[" in driver.find_element(By.ID, "a-sum").text
    shot(driver, "arithmetic")


def _open_arithmetic(driver, url) -> None:
    sb.open_page(driver, url, "arithmetic")
    if not driver.execute_script("return fetch('/api/info').then(r => r.json()).then(i => i.features.animate);"):
        pytest.skip("cnnkit.animate (issue 11) is not in this build")
    sb.wait_for(driver, "Number(document.getElementById('page-arithmetic').dataset.loaded || 0) >= 1")


def _fill(driver, values) -> None:
    """Type each ``(element id, text)`` into its field."""
    for element, value in values:
        box = driver.find_element(By.ID, element)
        box.clear()
        box.send_keys(value)


def _frames(driver, body: dict) -> dict:
    """What the page's server answers for ``body`` (the frame data the page draws)."""
    return driver.execute_script("return fetch('/api/frames', {method: 'POST', headers: {'Content-Type': "
                                 "'application/json'}, body: JSON.stringify(arguments[0])}).then(r => r.json());", body)


def _go_to_frame(driver, n) -> None:
    """Move the page's frame slider to frame ``n`` (or ``"last"``), as a user dragging it."""
    value = "r.max" if n == "last" else str(int(n))
    driver.execute_script(f"const r = document.getElementById('a-frame'); r.value = {value}; "
                          "r.dispatchEvent(new Event('input'));")


def test_arithmetic_page_routes_the_gradient(driver, url):
    """Backward: max pooling 3x3 stride 1 on 5x5 (overlapping windows); after the last frame the
    gradient summed over the drawn routes is the server's grad_input (cnnkit's backward)."""
    _open_arithmetic(driver, url)
    _fill(driver, (("a-in-h", "5"), ("a-in-w", "5"), ("a-k-h", "3"), ("a-k-w", "3"), ("a-s-h", "1"),
                   ("a-s-w", "1"), ("a-p-h", "0"), ("a-p-w", "0"), ("a-seed", "0")))
    Select(driver.find_element(By.ID, "a-op")).select_by_value("max_pool2d")
    count = sb.settle(driver, "arithmetic", "loaded")
    driver.find_element(By.ID, "a-backward").click()
    sb.wait_for(driver, f"Number(document.getElementById('page-arithmetic').dataset.loaded) > {count}")
    sb.settle(driver, "arithmetic", "loaded")
    _go_to_frame(driver, "last")
    drawn = json.loads(sb.wait_for(driver, "document.getElementById('a-canvas').dataset.gradInput"))
    body = {"op": "max_pool2d", "input": [5, 5], "kernel": [3, 3], "stride": [1, 1], "padding": [0, 0],
            "dilation": [1, 1], "seed": 0, "backward": True}
    served = _frames(driver, body)
    assert drawn == served["grad_input"][0]
    assert sum(map(sum, drawn)) == pytest.approx(sum(map(sum, served["grad_output"][0])))  # max pooling moves, never loses
    assert "all of it to the window's maximum" in driver.find_element(By.ID, "a-sum").text
    assert sb.colours(driver, driver.find_element(By.ID, "a-canvas")) > 3


def test_arithmetic_page_draws_1d_ops_as_a_row(driver, url):
    """conv1d (the text CNN's layer) with dilation 2, then max_pool1d backward: the H fields are
    disabled, the sums name positions only, and the drawn input gradient is the server's."""
    _open_arithmetic(driver, url)
    backward = driver.find_element(By.ID, "a-backward")
    if backward.is_selected():
        backward.click()
    _fill(driver, (("a-in-w", "9"), ("a-k-w", "3"), ("a-s-w", "1"), ("a-p-w", "0"), ("a-d-w", "2"), ("a-seed", "0")))
    Select(driver.find_element(By.ID, "a-pad-mode")).select_by_value("number")
    Select(driver.find_element(By.ID, "a-op")).select_by_value("conv1d")
    sb.settle(driver, "arithmetic", "loaded")
    assert driver.find_element(By.ID, "a-in-h").get_attribute("disabled")
    assert driver.find_element(By.ID, "a-title").text.startswith("conv1d: input 9, kernel 3, stride 1, padding 0, "
                                                                  "dilation 2 -> output 5")
    assert driver.find_element(By.ID, "a-formula").text.endswith("= 5")
    assert "reads 3 cells" in driver.find_element(By.ID, "a-rf").text
    _go_to_frame(driver, 2)
    one_d = {"input": [9], "kernel": [3], "stride": [1], "padding": [0], "dilation": [2], "seed": 0}
    served = _frames(driver, {"op": "conv1d", **one_d})
    assert driver.find_element(By.ID, "a-sum").text.startswith("out[2] = ")
    assert driver.find_element(By.ID, "a-sum").text.endswith(f"= {served['frames'][2]['value']}")

    Select(driver.find_element(By.ID, "a-op")).select_by_value("max_pool1d")
    count = sb.settle(driver, "arithmetic", "loaded")
    backward.click()
    sb.wait_for(driver, f"Number(document.getElementById('page-arithmetic').dataset.loaded) > {count}")
    sb.settle(driver, "arithmetic", "loaded")
    _go_to_frame(driver, "last")
    drawn = json.loads(sb.wait_for(driver, "document.getElementById('a-canvas').dataset.gradInput"))
    served = _frames(driver, {"op": "max_pool1d", **one_d, "backward": True})
    assert drawn == served["grad_input"]          # (1, 9) as one row
    assert driver.find_element(By.ID, "a-sum").text.startswith("dy[")
    backward.click()                              # leave the page as the other tests expect it
    Select(driver.find_element(By.ID, "a-op")).select_by_value("conv2d")
    sb.settle(driver, "arithmetic", "loaded")


def test_arithmetic_page_draws_a_separable_convolution_stage_by_stage(driver, url):
    _open_arithmetic(driver, url)
    _fill(driver, (("a-in-h", "5"), ("a-in-w", "5"), ("a-k-h", "3"), ("a-k-w", "3"), ("a-s-h", "1"),
                   ("a-s-w", "1"), ("a-p-h", "0"), ("a-p-w", "0"), ("a-d-h", "1"), ("a-d-w", "1"), ("a-seed", "0")))
    Select(driver.find_element(By.ID, "a-pad-mode")).select_by_value("number")
    Select(driver.find_element(By.ID, "a-op")).select_by_value("separable")
    sb.settle(driver, "arithmetic", "loaded")
    assert driver.find_element(By.ID, "a-backward").get_attribute("disabled")
    served = _frames(driver, {"op": "separable", "input": [5, 5], "kernel": [3, 3], "stride": [1, 1],
                              "padding": [0, 0], "dilation": [1, 1], "seed": 0})
    firsts = {f["stage"]: n for n, f in reversed(list(enumerate(served["frames"])))}
    for stage, name in enumerate(s["name"] for s in served["stages"]):
        n = firsts[stage] + 1          # the second frame of each stage
        _go_to_frame(driver, n)
        text = driver.find_element(By.ID, "a-sum").text
        i, j = served["frames"][n]["output_index"][1:]
        assert text.startswith(f"stage {stage + 1} of 2, {name}: out[{i}, {j}] = "), text
        assert text.endswith(f"= {served['frames'][n]['value']}"), text
    Select(driver.find_element(By.ID, "a-op")).select_by_value("conv2d")
    sb.settle(driver, "arithmetic", "loaded")


def test_model_page(driver, url):
    sb.open_page(driver, url, "draw")
    sb.draw_strokes(driver)                                                # a current input for the model page
    sb.wait_for(driver, "Number(document.getElementById('page-draw').dataset.predictions || 0) >= 1")
    sb.settle(driver, "draw", "predictions")
    sb.open_page(driver, url, "model")
    rows = sb.wait_for(driver, "document.querySelectorAll('#m-table tbody tr').length", what="the summary table")
    assert rows == 13                                                      # the model and its 12 layers
    conv2 = driver.find_element(By.CSS_SELECTOR, "#m-table tbody tr[data-layer='conv2']")
    assert [td.text for td in conv2.find_elements(By.TAG_NAME, "td")][2:6] == ["16×10×10", "2,416", "240,000", "14x14"]
    conv2.click()
    sb.wait_for(driver, "document.getElementById('page-model').dataset.layerShown === 'conv2'")
    maps = driver.find_elements(By.CSS_SELECTOR, "#m-maps canvas")
    assert len(maps) == 17 and max(sb.colours(driver, m) for m in maps[:16]) > 1   # 16 maps + the legend
    explain = driver.execute_script("return fetch('/api/info').then(r => r.json()).then(i => i.features.explain);")
    if explain:
        sb.wait_for(driver, "Number(document.getElementById('page-model').dataset.explained || 0) >= 1")
        assert sb.colours(driver, driver.find_element(By.ID, "m-overlay")) > 3
        for method, words in (("integrated_gradients", "Integrated gradients"), ("occlusion", "Occlusion"),
                              ("grad_cam++", "Grad-CAM++ at act2")):
            count = sb.counter(driver, "model", "explained")
            Select(driver.find_element(By.ID, "m-method")).select_by_value(method)
            sb.wait_for(driver, f"Number(document.getElementById('page-model').dataset.explained) > {count}")
            assert driver.find_element(By.ID, "m-explain-caption").text.startswith(words), method
            assert driver.find_element(By.ID, "m-cam-layer").get_attribute("disabled") == \
                (None if method == "grad_cam++" else "true"), method
        Select(driver.find_element(By.ID, "m-method")).select_by_value("grad_cam")
        sb.settle(driver, "model", "explained")
    else:
        assert "cnnkit.explain" in driver.find_element(By.ID, "m-explain-error").text
    shot(driver, "model")
    no_console_errors(driver)
