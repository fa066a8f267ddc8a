// The Model page: the summary table with receptive fields; a layer's output for the current input
// (hover a map: its unit's field on the input); saliency and Grad-CAM overlays.
import { getJSON, latest, postJSON, showError, upload } from "./api.js";
import { drawGrid, drawPicture, flatten, fmt, legend, rangeOf, viridis } from "./colors.js";
import { boxText, strokeBox, unitBox } from "./fields.js";

const INPUT_SCALE = 5;

export function initModel(page, shared) {
  const info = shared.info;
  const $ = (id) => page.querySelector(id);
  const errorBox = $("#m-error");
  const explainError = $("#m-explain-error");
  let table = null, selected = null, output = null, model = "loaded", hoverBox = null, started = false;

  function fillModels(list, value) {
    const select = $("#m-model");
    select.replaceChildren(...list.map(m => new Option(m.title, m.id)));
    select.value = value;
  }
  fillModels(info.models, "loaded");
  for (const m of info.models.filter(m => m.source === "zoo")) $("#m-arch").add(new Option(m.id, m.id));

  const current = () => table ? table.model : null;

  async function loadTable() {
    try {
      table = await getJSON(`/api/summary?model=${encodeURIComponent(model)}`);
      showError(errorBox, null);
    } catch (error) {
      table = null;
      showError(errorBox, error);
      return;
    }
    const m = table.model;
    $("#m-source").textContent = `${m.title} · input ${JSON.stringify(m.input_shape)} · from ${m.source}`;
    const t = table.totals;
    $("#m-totals").textContent = `${t.params.toLocaleString()} parameters (${t.trainable.toLocaleString()} trainable), ` +
      `${t.macs.toLocaleString()} multiply-adds per input; shapes without the batch axis. RF: the receptive field per input axis (pixels); ` +
      `jump: input pixels between neighbouring units; start: the centre of unit 0's field.`;
    $("#m-text").textContent = table.text;
    const body = $("#m-table tbody");
    body.replaceChildren();
    for (const row of table.rows) {
      const tr = document.createElement("tr");
      tr.dataset.layer = row.name;
      if (!row.leaf) tr.className = "container";
      const name = row.name ? `${"\u00a0\u00a0".repeat(Math.max(0, row.depth - 1))}${row.name}` : "(model)";
      const cells = [name, row.type, row.output_shape ? row.output_shape.slice(1).join("×") : "–",
                     row.params ? row.params.toLocaleString() : "–", row.macs ? row.macs.toLocaleString() : "–",
                     row.rf.size, row.rf.jump, row.rf.start];
      cells.forEach((text, k) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (k === 3 || k === 4) td.className = "num";
        tr.append(td);
      });
      if (row.name) tr.addEventListener("click", () => select(row.name));
      body.append(tr);
    }
    const cams = $("#m-cam-layer");
    cams.replaceChildren(...table.cam_layers.map(n => new Option(n, n)));
    if (table.cam_default) cams.value = table.cam_default;
    const first = table.rows.find(r => r.leaf && r.name);
    select(selected && table.rows.some(r => r.name === selected) ? selected : first ? first.name : null);
  }

  function inputDigit() {
    if (!shared.digit) return null;
    return shared.digit;
  }

  function noteInput() {
    const m = current();
    if (m && m.kind === "other") {
      $("#m-input-note").textContent = `This model takes ${JSON.stringify(m.input_shape)} (${m.dtype}), not a ` +
        `picture: only its table is shown.`;
    } else if (!shared.digit) {
      $("#m-input-note").textContent = "Draw a digit on the Draw page (or load an MNIST digit) to see this model's layers respond.";
    } else {
      $("#m-input-note").textContent = `Input: ${shared.digitSource}` +
        (m && m.kind === "digits" ? ", padded to 32×32 and normalised, as the model sees it."
          : `, resized to ${m.input_shape.slice(2).join("×")} and scaled to 0…1.`);
    }
  }

  function select(name) {
    selected = name;
    for (const tr of page.querySelectorAll("#m-table tbody tr")) tr.classList.toggle("selected", tr.dataset.layer === name);
    refresh();
  }

  const refresh = latest(async () => {
    noteInput();
    const m = current();
    const digit = inputDigit();
    if (!m || !selected || !digit || m.kind === "other") {   // nothing to draw: leave nothing stale either
      output = null;
      $("#m-maps").replaceChildren();
      $("#m-readout").textContent = $("#m-prediction").textContent = "";
      $("#m-layer-title").textContent = "Layer output";
      $("#m-layer-caption").textContent = !digit ? "Draw a digit first." : m && m.kind === "other"
        ? "This model's input is not a picture, so there are no maps to draw." : "Click a row of the table.";
      for (const id of ["#m-input", "#m-overlay"]) {
        const cv = $(id);
        cv.getContext("2d").clearRect(0, 0, cv.width, cv.height);
      }
      $("#m-explain-caption").textContent = "";
      return;
    }
    try {
      output = await postJSON("/api/layer", { model, pixels: digit, layer: selected });
      showError(errorBox, null);
    } catch (error) {
      showError(errorBox, error);
      return;
    }
    drawInput();
    drawMaps();
    const row = table.rows.find(r => r.name === selected);
    $("#m-layer-title").textContent = `Layer output: ${selected} (${output.type})`;
    const rf = row ? ` Each unit sees ${row.rf.size} input pixels (jump ${row.rf.jump}).` : "";
    $("#m-layer-caption").textContent = output.maps
      ? `${output.shape[0]} map${output.shape[0] > 1 ? "s" : ""} of ${output.shape.slice(1).join("×")}` +
        (output.channels_shown < output.shape[0] ? ` (the first ${output.channels_shown} shown)` : "") +
        `, one colour scale for the layer.${rf}`
      : `${output.shape[0]} values (a vector: every unit sees the whole input).`;
    $("#m-prediction").textContent = output.probabilities
      ? `prediction: ${output.predicted} (${(100 * output.probabilities[output.predicted]).toFixed(1)}%)` +
        (table.model.title.includes("random weights") ? ", from random weights: meaningless until trained" : "") : "";
    page.dataset.layerShown = selected;
    explain();
  });

  function drawInput() {
    const cv = $("#m-input");
    const grid = output.input;
    cv.width = grid[0].length * INPUT_SCALE;
    cv.height = grid.length * INPUT_SCALE;
    cv.style.width = `${Math.max(120, grid[0].length * INPUT_SCALE)}px`;
    cv.style.height = `${Math.max(120, grid.length * INPUT_SCALE)}px`;
    const ctx = cv.getContext("2d");
    const values = flatten(grid);
    drawPicture(ctx, grid, INPUT_SCALE, Math.min(...values), Math.max(...values));
    if (hoverBox) strokeBox(ctx, hoverBox, INPUT_SCALE);
  }

  function drawMaps() {
    const box = $("#m-maps");
    box.replaceChildren();
    const maps = output.maps || [[output.vector]];
    const range = rangeOf(flatten(maps)), own = $("#m-own-scale").checked;
    const h = maps[0].length, w = maps[0][0].length;
    const room = box.clientWidth || 600;
    const side = maps.length <= 8 ? 96 : Math.max(40, Math.min(96, Math.floor(room / maps.length) - 8));
    const scale = h === 1 ? Math.max(3, Math.min(24, Math.floor(Math.min(room, 560) / w))) : Math.max(1, Math.floor(side / Math.max(h, w)));
    maps.forEach((grid, c) => {
      const tile = document.createElement("div");
      tile.className = "tile";
      const cv = document.createElement("canvas");
      drawGrid(cv, grid, own ? rangeOf(flatten(grid)) : range, scale);
      if (h === 1) cv.style.height = "22px";
      cv.addEventListener("mousemove", (e) => hover(e, grid, c));
      cv.addEventListener("mouseleave", () => { hoverBox = null; $("#m-readout").textContent = ""; drawInput(); });
      const l = document.createElement("span");
      l.textContent = output.channel_names ? `${c} ${output.channel_names[c]}` : maps.length > 1 ? c : "";
      tile.append(cv, l);
      box.append(tile);
    });
    box.append(legend(range, own ? "layer range; each map on its own" : ""));
  }

  function hover(e, grid, channel) {
    const cv = e.currentTarget, r = cv.getBoundingClientRect();
    const x = Math.floor((e.clientX - r.left - cv.clientLeft) / cv.clientWidth * cv.width);   // (inside the border)
    const y = Math.floor((e.clientY - r.top - cv.clientTop) / cv.clientHeight * cv.height);
    if (!grid[y] || grid[y][x] === undefined) return;
    const row = table.rows.find(q => q.name === selected);
    let text = `${selected}: ${output.maps ? `map ${channel}, row ${y}, column ${x}` : `unit ${x}`} = ${fmt(grid[y][x], 4)}`;
    hoverBox = null;
    if (row && row.field && row.field.length === 2 && output.maps) {
      hoverBox = unitBox(row.field, y, x);
      text += ` · its receptive field: input ${boxText(hoverBox, output.input.length)} (${row.rf.size}; ` +
        `cut at the picture's edge: padding)`;
    }
    $("#m-readout").textContent = text;
    drawInput();
  }

  // ----------------------------------------------------------- explanations
  function camGrid(layer) {
    const row = table && table.rows.find(r => r.name === layer);
    return row && row.output_shape ? row.output_shape.slice(2).join("×") : "own";
  }
  for (let k = 0; k < 10; k++) $("#m-target").add(new Option(String(k), String(k)));
  const explain = latest(async () => {
    const m = current();
    const digit = inputDigit();
    if (!info.features.explain) {
      $("#m-explain-panel").hidden = true;
      showError(explainError, new Error("Saliency and Grad-CAM need cnnkit.explain (issue 12), which this cnnkit " +
                                        "does not have yet."));
      return;
    }
    if (!m || !digit || m.kind === "other") return;
    const body = { model, pixels: digit, method: $("#m-method").value,
                   target: $("#m-target").value === "" ? null : Number($("#m-target").value) };
    const cam = body.method.startsWith("grad_cam");
    if (cam) body.layer = $("#m-cam-layer").value;
    $("#m-cam-layer").disabled = !cam;
    let answer;
    try {
      answer = await postJSON("/api/explain", body);
      showError(explainError, null);
    } catch (error) {
      showError(explainError, error);
      return;
    }
    const cv = $("#m-overlay"), ctx = cv.getContext("2d");
    const scale = cv.width / answer.input.length;
    ctx.clearRect(0, 0, cv.width, cv.height);
    const values = flatten(answer.input), lo = Math.min(...values), hi0 = Math.max(...values);
    drawPicture(ctx, answer.input, scale, lo, lo + (hi0 - lo) / 0.55);     // the digit, dimmed under the map
    const hi = answer.range[1], alpha = Number($("#m-alpha").value) / 100;
    drawPicture(ctx, answer.map, scale, 0, hi > 0 ? hi : 1, viridis, (t) => alpha * Math.pow(Math.min(1, Math.max(0, t)), 0.6));
    const t = answer.target, top = fmt(hi, 3);
    const captions = {
      saliency: `Saliency for class ${t}: |∂ logit ${t} / ∂ input| per pixel (largest ${top}), ` +
        `the pixels whose change would move that score most.`,
      input_x_gradient: `Input × gradient for class ${t}: |x · ∂ logit ${t} / ∂ x| per pixel (largest ${top}): ` +
        `the gradient weighted by the pixel itself, so the black background (x = the blank value) counts little.`,
      integrated_gradients: `Integrated gradients for class ${t}: |(x − x₀) · mean of ∂ logit ${t} / ∂ x along the ` +
        `straight path from the blank canvas x₀ to x| (32 midpoint steps; largest ${top}); the attributions add up ` +
        `to logit(x) − logit(x₀).`,
      occlusion: `Occlusion for class ${t}: how much logit ${t} drops when a 4×4 square is blanked (squares 2 ` +
        `pixels apart; each pixel gets the mean drop of the squares covering it; only drops shown, largest ${top}).`,
      grad_cam: `Grad-CAM at ${answer.layer} for class ${t}: ReLU(Σₖ αₖ Aₖ), αₖ the mean gradient of the class ` +
        `score over map k, upsampled to the input (largest ${top}): the positions whose features raise the ` +
        `score of ${t}, only as fine as the layer's ${camGrid(answer.layer)} grid.`,
      "grad_cam++": `Grad-CAM++ at ${answer.layer} for class ${t}: like Grad-CAM with each map's weight from the ` +
        `positive gradients only (Chattopadhyay et al.), upsampled (largest ${top}); its weights are never negative.`,
    };
    $("#m-explain-caption").textContent = captions[answer.method] || "";
    page.dataset.explained = String(Number(page.dataset.explained || 0) + 1);
  });
  for (const id of ["#m-method", "#m-cam-layer", "#m-target", "#m-alpha"]) {
    for (const kind of ["input", "change"]) $(id).addEventListener(kind, explain);
  }

  // ----------------------------------------------------------- inputs and models
  $("#m-model").addEventListener("change", () => { model = $("#m-model").value; loadTable(); });
  $("#m-own-scale").addEventListener("change", () => { if (output) drawMaps(); });
  $("#m-upload").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    try {
      const arch = $("#m-arch").value;
      const entry = await upload("/api/models", file, arch ? { architecture: arch } : {}, info.limits.max_body_bytes);
      const list = await getJSON("/api/models");
      model = entry.id;
      fillModels(list.models, entry.id);
      await loadTable();
    } catch (error) {
      showError(errorBox, error);
    }
    e.target.value = "";
  });
  if (info.mnist) {
    $("#m-mnist-row").hidden = false;
    $("#m-mnist-load").addEventListener("click", async () => {
      const index = Number($("#m-mnist-index").value);
      try {
        const d = await getJSON(`/api/mnist/${index}`);
        shared.setDigit(d.pixels, `MNIST test digit ${index} (label ${d.label})`);
      } catch (error) {
        showError(errorBox, error);
      }
    });
  }
  shared.onDigit(() => { if (started && !page.hidden) refresh(); });
  return {
    onShow() {
      if (!started) { started = true; loadTable(); return; }
      refresh();
    },
  };
}
