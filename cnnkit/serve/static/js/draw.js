// The Draw page: a canvas for a digit; the server's MNIST-style digit, the prediction and every
// layer's activations update while drawing.
import { getJSON, latest, postJSON, showError, upload } from "./api.js";
import { drawGrid, drawPicture, flatten, fmt, legend, rangeOf } from "./colors.js";
import { boxText, strokeBox, unitBox } from "./fields.js";

const SEND = 140;          // the drawing is sent at 140x140 (half the canvas), white ink on black
const PREVIEW_SCALE = 6;   // the 28x28 digit is drawn at 6 canvas pixels per pixel

// A sentence for a learner: what the layer's values are. `own` is the layer's table row (its input
// shape), `shown` the row of what is drawn (the activation after it: the same receptive field).
export function describeLayer(view, own, shown, convIndex) {
  const shape = view.shape;
  const act = view.activation ? `, after ${view.activation}` : "";
  const rf = shown && shown.rf ? shown.rf.size : "?";
  if (view.role === "logits") {
    return `${shape[0]} scores, one per class; softmax turns them into the probabilities above.`;
  }
  if (shape.length === 3 && view.type.includes("Pool")) {
    return `${shape[0]} maps of ${shape[1]}×${shape[2]}: each value summarises a window of the maps above ` +
           `(${view.type}). A unit sees ${rf} input pixels.`;
  }
  if (shape.length === 3) {
    const depth = convIndex === 0 ? "Shallow: its filters respond to edges and strokes."
      : "Deeper: combinations of the maps below, larger parts of the digit.";
    return `${shape[0]} feature maps of ${shape[1]}×${shape[2]}${act}. A unit sees a ${rf} patch of the ` +
           `input. ${depth}`;
  }
  const inputs = own && own.input_shape ? own.input_shape.slice(1).reduce((a, b) => a * b, 1) : "all";
  return `${shape[0]} units${act}, each a weighted sum of all ${inputs} values below: global, it sees the ` +
         `whole input.`;
}

export function initDraw(page, shared) {
  const canvas = page.querySelector("#draw-canvas");
  const ctx = canvas.getContext("2d");
  const preview = page.querySelector("#digit-preview");
  const errorBox = page.querySelector("#draw-error");
  const layersBox = page.querySelector("#layers");
  const readout = page.querySelector("#draw-readout");
  const ownScale = page.querySelector("#draw-own-scale");
  const pen = page.querySelector("#draw-pen");
  let drawn = false, last = null, result = null, source = "", table = null, built = null, hoverBox = null;

  preview.width = preview.height = 28 * PREVIEW_SCALE;

  function clear() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    drawn = false;
  }
  clear();

  // ------------------------------------------------------------ strokes
  const point = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  };
  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture(e.pointerId);
    last = point(e);
    ctx.fillStyle = "#fff";
    ctx.beginPath();
    ctx.arc(last[0], last[1], Number(pen.value) / 2, 0, 2 * Math.PI);
    ctx.fill();
    drawn = true;
    send();
    e.preventDefault();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!last) return;
    const p = point(e);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = Number(pen.value);
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(last[0], last[1]);
    ctx.lineTo(p[0], p[1]);
    ctx.stroke();
    last = p;
    send();
    e.preventDefault();
  });
  const end = () => { if (last) { last = null; send(); } };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);

  function drawingPixels() {
    const small = document.createElement("canvas");
    small.width = small.height = SEND;
    const s = small.getContext("2d");
    s.imageSmoothingEnabled = true;
    s.imageSmoothingQuality = "high";
    s.drawImage(canvas, 0, 0, SEND, SEND);
    const data = s.getImageData(0, 0, SEND, SEND).data;
    const rows = [];
    for (let y = 0; y < SEND; y++) {
      const row = new Array(SEND);
      for (let x = 0; x < SEND; x++) row[x] = data[4 * (y * SEND + x)];
      rows.push(row);
    }
    return rows;
  }

  const send = latest(async () => {
    if (!drawn) return;
    const drawing = drawingPixels();
    window.cnnkitLastDrawing = drawing;   // what was sent, for tests and the curious
    try {
      show(await postJSON("/api/predict", { drawing }), "your drawing");
    } catch (error) {
      showError(errorBox, error);
    }
  });

  // ------------------------------------------------------------ results
  function drawPreview() {
    const p = preview.getContext("2d");
    p.fillStyle = "#000";
    p.fillRect(0, 0, preview.width, preview.height);
    if (!result) return;
    drawPicture(p, result.digit, PREVIEW_SCALE, 0, 255);
    if (hoverBox) strokeBox(p, hoverBox, PREVIEW_SCALE);
  }

  function drawBars(probabilities) {
    const box = page.querySelector("#probabilities");
    const best = probabilities.indexOf(Math.max(...probabilities));
    box.replaceChildren();
    probabilities.forEach((p, k) => {
      const cells = [document.createElement("span"), document.createElement("div"), document.createElement("span")];
      cells[0].textContent = k;
      cells[1].className = "bar";
      const fill = document.createElement("div");
      fill.style.width = `${(100 * p).toFixed(1)}%`;
      cells[1].append(fill);
      cells[2].className = "value";
      cells[2].textContent = `${(100 * p).toFixed(1)}%`;
      const wrap = document.createElement("div");
      wrap.className = `prob${k === best ? " top" : ""}`;
      wrap.style.display = "contents";
      wrap.dataset.digit = k;
      wrap.append(...cells);
      box.append(wrap);
    });
  }

  function rowOf(name) { return table ? table.rows.find(r => r.name === name) : null; }

  function buildLayers(plan) {
    layersBox.replaceChildren();
    built = {};
    let convIndex = 0;
    plan.forEach((view, index) => {
      const row = document.createElement("div");
      row.className = "layer-row";
      row.dataset.layer = view.name;
      const info = document.createElement("div");
      info.className = "layer-info";
      const spatial = view.shape.length === 3 && !view.type.includes("Pool");
      info.innerHTML = `<b></b> <span class="small"></span><span class="small desc"></span>`;
      info.querySelector("b").textContent = view.role === "logits" ? `${view.name} = logits` : view.name;
      const own = rowOf(view.name);
      info.querySelector(".small").textContent = `${view.type}${view.activation ? " + " + view.activation : ""} · ` +
        `${view.shape.join("×")}` + (own && own.params ? ` · ${own.params.toLocaleString()} weights` : "");
      info.querySelector(".desc").textContent = describeLayer(view, rowOf(view.name), rowOf(view.shows), convIndex);
      if (spatial) convIndex++;
      const tiles = document.createElement("div");
      tiles.className = "tiles";
      const count = view.shape.length === 3 ? view.shape[0] : 1;
      const canvases = [];
      for (let c = 0; c < count; c++) {
        const tile = document.createElement("div");
        tile.className = "tile";
        const cv = document.createElement("canvas");
        cv.dataset.layer = view.name;
        cv.dataset.channel = c;
        tile.append(cv);
        if (count > 1) { const l = document.createElement("span"); l.textContent = c; tile.append(l); }
        if (view.role === "logits") {
          const l = document.createElement("div");
          l.className = "cell-labels";
          for (let k = 0; k < view.shape[0]; k++) { const s = document.createElement("span"); s.textContent = k; l.append(s); }
          tile.append(l);
        }
        tiles.append(tile);
        canvases.push(cv);
        cv.addEventListener("mousemove", (e) => hover(e, view, c));
        cv.addEventListener("mouseleave", () => { hoverBox = null; readout.textContent = ""; drawPreview(); });
      }
      const legendBox = document.createElement("div");
      info.append(legendBox);
      row.append(info, tiles);
      layersBox.append(row);
      built[view.name] = { canvases, legendBox, view };
    });
  }

  function grids(view, values) {
    if (view.shape.length === 3) return values;          // (C, H, W)
    return [[values]];                                    // (F,) as one strip
  }

  function drawLayers() {
    if (!result) return;
    const own = ownScale.checked;
    for (const view of result.layers) {
      const b = built[view.name];
      const maps = grids(view, result.activations[view.name]);
      const shared = rangeOf(flatten(maps));
      const h = maps[0].length, w = maps[0][0].length;
      const room = b.canvases[0].parentElement.parentElement.clientWidth || 900;
      const side = Math.max(48, Math.min(96, Math.floor(room / maps.length) - 8));   // one row of tiles if it fits
      const scale = h === 1 ? Math.max(4, Math.min(28, Math.floor(Math.min(room, 720) / w))) : Math.max(1, Math.floor(side / h));
      maps.forEach((grid, c) => {
        const range = own ? rangeOf(flatten(grid)) : shared;
        drawGrid(b.canvases[c], grid, range, scale);
        if (h === 1) b.canvases[c].style.height = "22px";
        const labels = b.canvases[c].parentElement.querySelector(".cell-labels");
        if (labels) labels.style.gridTemplateColumns = `repeat(${w}, ${scale}px)`;
      });
      b.legendBox.replaceChildren(legend(shared, own ? "layer range" : ""));
    }
  }

  function hover(e, view, channel) {
    if (!result) return;
    const cv = e.currentTarget;
    const r = cv.getBoundingClientRect();
    const x = Math.floor((e.clientX - r.left - cv.clientLeft) / cv.clientWidth * cv.width);   // (inside the border)
    const y = Math.floor((e.clientY - r.top - cv.clientTop) / cv.clientHeight * cv.height);
    const maps = grids(view, result.activations[view.name]);
    const value = maps[channel] && maps[channel][y] ? maps[channel][y][x] : undefined;
    if (value === undefined) return;
    const where = view.shape.length === 3 ? `map ${channel}, row ${y}, column ${x}` : `unit ${x}`;
    const row = rowOf(view.shows);
    readout.textContent = `${view.name}: ${where} = ${fmt(value, 4)}` +
      (view.role === "logits" ? ` (the score of digit ${x})` : "");
    hoverBox = null;
    if (row && row.field && view.shape.length === 3) {
      // the unit's receptive field in the 32x32 input, shown on the 28x28 digit (2 pixels of padding cut)
      hoverBox = unitBox(row.field, y, x, -2);
      readout.textContent += ` · sees the digit's ${boxText(hoverBox, 28)} (${row.rf.size} of the padded 32×32)`;
    }
    drawPreview();
  }

  function render() {
    const answer = result;
    page.querySelector("#prediction").textContent = answer.predicted;
    page.querySelector("#confidence").textContent =
      `${(100 * answer.probabilities[answer.predicted]).toFixed(1)}% sure · from ${source}`;
    drawBars(answer.probabilities);
    const signature = answer.layers.map(v => v.name + v.shape).join();
    if (!built || built.signature !== signature) { buildLayers(answer.layers); built.signature = signature; }
    drawLayers();
    drawPreview();
  }

  function show(answer, from) {
    showError(errorBox, null);
    result = answer;
    source = from;
    render();
    shared.setDigit(answer.digit, from);
    page.dataset.predictions = String(Number(page.dataset.predictions || 0) + 1);
  }

  // ------------------------------------------------------------ other inputs
  page.querySelector("#draw-clear").addEventListener("click", () => { clear(); showError(errorBox, null); });
  ownScale.addEventListener("change", drawLayers);

  page.querySelector("#draw-upload").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    try {
      const answer = await upload("/api/predict", file, {}, shared.info.limits.max_body_bytes);
      clear();
      show(answer, file.name);
    } catch (error) {
      showError(errorBox, error);
    }
    e.target.value = "";
  });

  if (shared.info.mnist) {
    page.querySelector("#draw-mnist-row").hidden = false;
    page.querySelector("#draw-mnist-load").addEventListener("click", async () => {
      const index = Number(page.querySelector("#draw-mnist-index").value);
      try {
        const digit = await getJSON(`/api/mnist/${index}`);
        clear();
        drawPicture(ctx, digit.pixels, canvas.width / 28, 0, 255);   // so you can draw over it
        drawn = true;
        show(await postJSON("/api/predict", { pixels: digit.pixels }), `MNIST test digit ${index} (label ${digit.label})`);
      } catch (error) {
        showError(errorBox, error);
      }
    });
  }

  getJSON("/api/summary?model=loaded").then(t => {
    table = t;
    built = null;          // the layer descriptions use the table's receptive fields and weights
    if (result) render();
  }).catch(() => { table = null; });
  if (shared.info.model.kind !== "digits") {
    showError(errorBox, new Error(`The loaded model (${shared.info.model.title}) is not a digit classifier; ` +
                                  `the Draw page needs a LeNet-5. The Model page shows it.`));
  }
  return {};
}
