// The Kernels page: a picture, a kernel (named or typed in), the border rule; the filtered picture
// and the kernel's separability update as you type.
import { debounce, latest, postJSON, showError, upload } from "./api.js";
import { fmt } from "./colors.js";

// How each border rule extends a row "a b c d" past its ends (cnnkit.filtering).
const BORDERS = {
  zero: "0 0 | a b c d | 0 0: zeros, like a CNN layer's padding (cv2 BORDER_CONSTANT)",
  reflect: "b a | a b c d | d c: mirrored, edge pixel repeated (cv2 BORDER_REFLECT)",
  reflect101: "c b | a b c d | c b: mirrored about the edge pixel (OpenCV's default, BORDER_REFLECT_101)",
  replicate: "a a | a b c d | d d: the edge pixel repeated (cv2 BORDER_REPLICATE)",
  wrap: "c d | a b c d | a b: the image tiled (cv2 BORDER_WRAP)",
};

export function initKernels(page, shared) {
  const info = shared.info;
  const $ = (id) => page.querySelector(id);
  const errorBox = $("#k-error");
  const matrixBox = $("#k-matrix");
  let source = "sample:camera", size = 3, inputs = [];

  for (const s of info.samples) $("#k-sample").add(new Option(`${s.name}: ${s.description}`, s.name));
  for (const k of info.kernels) {
    const label = k.seed_label ? `${k.name} (${k.seed_label})` : k.name;
    $("#k-kernel").add(new Option(label, k.name));
  }
  $("#k-kernel").add(new Option("custom (type your own weights)", "custom"));
  for (const b of info.borders) $("#k-border").add(new Option(b, b));
  $("#k-sample").value = "camera";
  $("#k-kernel").value = "sobel_x";

  function buildMatrix(n, values) {
    size = n;
    $("#k-size").value = String(n);
    matrixBox.style.gridTemplateColumns = `repeat(${n}, auto)`;
    matrixBox.replaceChildren();
    inputs = [];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const input = document.createElement("input");
        input.type = "number";
        input.step = "any";
        input.value = values ? String(Number(values[i][j].toPrecision(6))) : (i === (n >> 1) && j === (n >> 1) ? "1" : "0");
        input.dataset.row = i; input.dataset.col = j;
        input.addEventListener("input", () => { $("#k-kernel").value = "custom"; describe(); later(); });
        matrixBox.append(input);
        inputs.push(input);
      }
    }
  }

  function matrix() {
    const m = [];
    for (let i = 0; i < size; i++) m.push(inputs.slice(i * size, (i + 1) * size).map(x => Number(x.value)));
    return m;
  }

  function named() { return info.kernels.find(k => k.name === $("#k-kernel").value); }

  function describe() {
    const k = named();
    $("#k-description").textContent = k ? k.description : "your own weights: out[y, x] = Σ K[i, j] · image[y + i − a, x + j − a]";
    $("#k-border-help").textContent = BORDERS[$("#k-border").value] || "";
  }

  function resetToNamed() {
    const k = named();
    if (k && (k.matrix.length === 3 || k.matrix.length === 5)) buildMatrix(k.matrix.length, k.matrix);
    describe();
  }

  const run = latest(async () => {
    const kernel = matrix();
    if (kernel.flat().some(v => !Number.isFinite(v))) {
      showError(errorBox, new Error("every weight must be a number"));
      return;
    }
    try {
      const out = await postJSON("/api/filter", {
        image: source, kernel, border: $("#k-border").value, mode: $("#k-mode").value, grey: $("#k-grey").checked,
      });
      showError(errorBox, null);
      $("#k-result").src = out.result_png;
      $("#k-result-caption").textContent = out.rule === "abs"
        ? "result, shown as |value| scaled to its 99.5th percentile (the weights sum to 0: the sign is a direction)"
        : "result, rounded and clipped to 0…255";
      facts(out);
      if (probeAt) probe();
      page.dataset.filtered = String(Number(page.dataset.filtered || 0) + 1);
    } catch (error) {
      showError(errorBox, error);
    }
  });
  const later = debounce(run, 120);

  function facts(out) {
    const sep = out.separable;
    const vec = (v) => `[${v.map(x => fmt(x, 4)).join(", ")}]`;
    const lines = [
      `<div class="fact">separable: <span class="badge ${sep ? "yes" : "no"}" id="k-separable">${sep ? "yes" : "no"}</span> ` +
      (sep ? `kernel = column ⊗ row = <code>${vec(sep.column)}ᵀ</code> ⊗ <code>${vec(sep.row)}</code>: two 1-D passes, ` +
             `${out.multiplies.separable} multiplies per pixel instead of ${out.multiplies.direct}`
           : `its rank is above 1, so no pair of 1-D kernels gives it (${out.multiplies.direct} multiplies per pixel)`) + `</div>`,
      `<div class="fact">weights sum to <code>${fmt(out.kernel_sum, 4)}</code>` +
      (Math.abs(out.kernel_sum) < 1e-9 ? ": flat regions become 0, only changes (edges) remain"
        : Math.abs(out.kernel_sum - 1) < 1e-9 ? ": flat regions keep their brightness"
        : `: a flat region of brightness v becomes ${fmt(out.kernel_sum, 4)}·v`) + `</div>`,
      `<div class="fact">raw result from <code>${fmt(out.range[0], 4)}</code> to <code>${fmt(out.range[1], 4)}</code> ` +
      `on a ${out.shape.slice(0, 2).join("×")} ${out.shape.length === 3 ? "colour" : "grey"} image, border <code>${out.border}</code>, ` +
      `mode <code>${out.mode}</code></div>`,
    ];
    $("#k-facts").innerHTML = lines.join("");
  }

  // ------------------------------------------------------------ one pixel's arithmetic
  let probeAt = null;
  function imageXY(img, e) {
    const r = img.getBoundingClientRect(), nw = img.naturalWidth, nh = img.naturalHeight;
    const scale = Math.min(r.width / nw, r.height / nh);
    const ox = (r.width - nw * scale) / 2, oy = (r.height - nh * scale) / 2;
    const x = Math.floor((e.clientX - r.left - ox) / scale), y = Math.floor((e.clientY - r.top - oy) / scale);
    return x >= 0 && y >= 0 && x < nw && y < nh ? { x, y, scale, ox, oy } : null;
  }
  function placeMarkers() {
    for (const img of [$("#k-input"), $("#k-result")]) {
      const marker = img.parentElement.querySelector(".marker");
      if (!probeAt || !img.naturalWidth) { marker.hidden = true; continue; }
      const r = img.getBoundingClientRect(), scale = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight);
      const ox = (r.width - img.naturalWidth * scale) / 2, oy = (r.height - img.naturalHeight * scale) / 2;
      const n = size, side = Math.max(8, n * scale);
      marker.style.left = `${ox + (probeAt.x + 0.5) * scale - side / 2}px`;
      marker.style.top = `${oy + (probeAt.y + 0.5) * scale - side / 2}px`;
      marker.style.width = marker.style.height = `${side}px`;
      marker.hidden = false;
    }
  }
  function table(grid, outside = null, digits = 4) {
    const t = document.createElement("table");
    grid.forEach((row, i) => {
      const tr = document.createElement("tr");
      row.forEach((v, j) => {
        const td = document.createElement("td");
        td.textContent = fmt(v, digits);
        if (outside && outside[i][j]) { td.className = "outside"; td.title = "past the edge: filled by the border rule"; }
        tr.append(td);
      });
      t.append(tr);
    });
    return t;
  }
  const probe = latest(async () => {
    if (!probeAt) return;
    try {
      const p = await postJSON("/api/filter/probe", {
        image: source, kernel: matrix(), border: $("#k-border").value, mode: $("#k-mode").value,
        grey: $("#k-grey").checked, y: probeAt.y, x: probeAt.x });
      const box = $("#k-probe");
      box.replaceChildren();
      const head = document.createElement("p");
      head.textContent = `Output pixel (row ${p.y}, column ${p.x}): the pixels under the kernel` +
        (p.outside.flat().some(Boolean) ? ` (grey: past the edge, filled by the ${p.border} rule)` : "") +
        `, times the weights${p.mode === "convolve" ? " turned 180° (convolve)" : ""}, summed:`;
      const eq = document.createElement("div");
      eq.className = "eq";
      const op = (t) => { const s = document.createElement("span"); s.className = "op"; s.textContent = t; return s; };
      const result = document.createElement("span");
      result.innerHTML = `<b>${fmt(p.sum, 6)}</b> (cnnkit.filter2d gives ${fmt(p.value, 6)})`;
      eq.append(table(p.patch, p.outside), op("⊙"), table(p.weights), op("="), table(p.products, p.outside), op("→ Σ ="), result);
      box.append(head, eq);
      page.dataset.probed = String(Number(page.dataset.probed || 0) + 1);
    } catch (error) {
      showError(errorBox, error);
    }
  });
  for (const img of [$("#k-input"), $("#k-result")]) {
    img.addEventListener("click", (e) => {
      const at = imageXY(img, e);
      if (!at) return;
      probeAt = { x: at.x, y: at.y };
      placeMarkers();
      probe();
    });
    img.addEventListener("load", placeMarkers);
  }
  window.addEventListener("resize", placeMarkers);

  function setSource(src, caption) {
    source = src;
    probeAt = null;
    placeMarkers();
    $("#k-input").src = src.startsWith("sample:") ? `/api/samples/${src.slice(7)}` : `/api/images/${src.slice(7)}`;
    $("#k-input-caption").textContent = caption;
    run();
  }

  $("#k-sample").addEventListener("change", () => {
    const s = info.samples.find(x => x.name === $("#k-sample").value);
    setSource(`sample:${s.name}`, `input: scikit-image's ${s.name} (${s.description})`);
  });
  $("#k-upload").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    try {
      const out = await upload("/api/images", file, {}, info.limits.max_body_bytes);
      showError(errorBox, null);
      const scaled = out.original[0] !== out.width ? ` (scaled from ${out.original.join("×")})` : "";
      setSource(out.id, `input: ${out.name}, ${out.width}×${out.height}${scaled}`);
    } catch (error) {
      showError(errorBox, error);
    }
    e.target.value = "";
  });
  $("#k-kernel").addEventListener("change", () => { resetToNamed(); run(); });
  $("#k-reset").addEventListener("click", () => { resetToNamed(); run(); });
  $("#k-size").addEventListener("change", () => { buildMatrix(Number($("#k-size").value)); $("#k-kernel").value = "custom"; describe(); run(); });
  for (const id of ["#k-border", "#k-mode", "#k-grey"]) $(id).addEventListener("change", () => { describe(); run(); });

  resetToNamed();
  let started = false;
  return {
    onShow() {
      if (started) return;
      started = true;
      setSource("sample:camera", "input: scikit-image's camera (cameraman, 512x512 grayscale)");
    },
  };
}
