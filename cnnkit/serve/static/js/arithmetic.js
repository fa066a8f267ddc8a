// The Arithmetic page: cnnkit.animate's frame data (one frame per output cell, the input cells and
// kernel taps that meet in it, the value) drawn on a canvas, with the output-size formula and the
// receptive field; with "backward", each frame's upstream gradient and where it goes (the routes),
// accumulating into the input gradient. Every number drawn comes from the server.
import { debounce, latest, postJSON, showError } from "./api.js";
import { fmt } from "./colors.js";

const C = {
  pad: "#e9edf2", padLine: "#b9c2ce", zero: "#f6f1e4", cell: "#ffffff", line: "#c6ced9", text: "#1d2430",
  muted: "#8a94a3", tap: "#cfe0fb", term: "#7fb0f5", span: "#2a6fdb", current: "#f0a30a", done: "#e4f1e8",
  argmax: "#f0a30a",
};

// The output-size rule of each operation (cnnkit._core.window, cnnkit._core.pool); the server's
// formula below it has the numbers substituted.
const GENERAL = {
  conv2d: "out = floor((in + pad_before + pad_after − dilation·(kernel − 1) − 1) / stride) + 1",
  conv_transpose2d: "out = (in − 1)·stride − pad_before − pad_after + dilation·(kernel − 1) + output_padding + 1",
  max_pool2d: "out = floor((in + 2·pad − dilation·(kernel − 1) − 1) / stride) + 1   (ceil with ceil_mode)",
  avg_pool2d: "out = floor((in + 2·pad − kernel) / stride) + 1   (ceil with ceil_mode)",
};

const PRESETS = {
  "seed-stride": { op: "conv2d", in: [5, 5], k: [3, 3], s: [2, 2], pad: "number", p: [0, 0], d: [1, 1] },
  "seed-transposed": { op: "conv_transpose2d", in: [2, 2], k: [3, 3], s: [2, 2], pad: "number", p: [0, 0], d: [1, 1] },
  "seed-dilated": { op: "conv2d", in: [7, 7], k: [3, 3], s: [1, 1], pad: "number", p: [0, 0], d: [2, 2] },
  "same": { op: "conv2d", in: [5, 5], k: [3, 3], s: [2, 2], pad: "same", p: [0, 0], d: [1, 1] },
};

export function initArithmetic(page, shared) {
  const $ = (id) => page.querySelector(id);
  const canvas = $("#a-canvas");
  const errorBox = $("#a-error");
  let data = null, frame = 0, timer = null, playing = true, steps = [];

  if (!shared.info.features.animate) {
    showError(errorBox, new Error("The animation needs cnnkit.animate (issue 11), which this cnnkit does not " +
                                  "have yet; the page has nothing honest to draw without it."));
  }

  const num = (id) => Number($(id).value);
  const isOneD = (op) => op.endsWith("1d");
  function request() {
    const op = $("#a-op").value;
    // 1-D ops take the W values only (the H fields are disabled)
    const pair = (h, w) => (isOneD(op) ? [num(w)] : [num(h), num(w)]);
    const body = { op, input: pair("#a-in-h", "#a-in-w"), kernel: pair("#a-k-h", "#a-k-w"),
                   stride: pair("#a-s-h", "#a-s-w"), seed: num("#a-seed") };
    const mode = $("#a-pad-mode").value;
    const explicit = [[num("#a-p-t"), num("#a-p-b")], [num("#a-p-l"), num("#a-p-r")]];
    body.padding = mode === "number" ? pair("#a-p-h", "#a-p-w")
      : mode === "explicit" ? (isOneD(op) ? explicit.slice(1) : explicit) : mode;
    if (!op.startsWith("avg_pool")) body.dilation = pair("#a-d-h", "#a-d-w");
    const backward = $("#a-backward").checked;
    if (op.startsWith("conv_transpose")) {
      body.output_padding = pair("#a-op-h", "#a-op-w");
      body.view = backward ? "direct" : $("#a-view").value;   // the gradient is drawn per output cell
    }
    if (backward && op !== "separable") body.backward = true;
    return body;
  }

  function syncControls() {
    const op = $("#a-op").value;
    const pool = op.includes("pool");
    for (const o of $("#a-pad-mode").options) o.disabled = pool && o.value !== "number";
    if (pool && $("#a-pad-mode").value !== "number") $("#a-pad-mode").value = "number";
    const mode = $("#a-pad-mode").value;
    $("#a-pad-number").hidden = mode !== "number";
    $("#a-pad-explicit").hidden = mode !== "explicit";
    $("#a-dilation-row").hidden = op.startsWith("avg_pool");
    $("#a-op-row").hidden = !op.startsWith("conv_transpose");
    $("#a-view-row").hidden = !op.startsWith("conv_transpose") || $("#a-backward").checked;
    $("#a-backward").disabled = op === "separable";   // its gradient runs through two stages: the CLI draws it
    for (const id of ["#a-in-h", "#a-k-h", "#a-s-h", "#a-p-h", "#a-d-h", "#a-op-h", "#a-p-t", "#a-p-b"]) {
      $(id).disabled = isOneD(op);   // a 1-D op has one axis: it is drawn as one row
    }
  }

  const load = latest(async () => {
    syncControls();
    try {
      data = asTwoD(await postJSON("/api/frames", request()));
    } catch (error) {
      data = null;
      showError(errorBox, error);
      $("#a-formula").textContent = "";
      draw();
      return;
    }
    showError(errorBox, null);
    $("#a-formula-general").textContent = GENERAL[data.op] || "";
    $("#a-formula").textContent = data.output_size_formula;
    $("#a-title").textContent = data.title;
    $("#a-notes").replaceChildren(...(data.notes || []).map(n => { const li = document.createElement("li"); li.textContent = n; return li; }));
    receptiveField();
    steps = buildSteps();
    frame = Math.min(frame, steps.length - 1);
    $("#a-frame").max = String(Math.max(0, steps.length - 1));
    page.dataset.loaded = String(Number(page.dataset.loaded || 0) + 1);
    draw();
  });
  const later = debounce(load, 120);

  // A 1-D op's frame data as a 2-D one with a single row (indices and parameters get a leading
  // 0 / 1 axis), so the one drawing code shows both; data.dims remembers which it was.
  function asTwoD(d) {
    d.dims = d.op.endsWith("1d") ? 1 : 2;
    if (d.dims === 2) return d;
    const at = (index, axis) => [...index.slice(0, axis), 0, ...index.slice(axis)];
    const rows = (a) => a && a.map(ch => [ch]);
    d.op = d.op.replace("1d", "2d");
    d.input = rows(d.input);
    d.output = rows(d.output);
    if (d.grad_output) { d.grad_output = rows(d.grad_output); d.grad_input = rows(d.grad_input); }
    if (d.kernel) d.kernel = d.kernel.map(o => o.map(c => [c]));
    const p = d.params;
    for (const key of ["kernel_size", "stride", "dilation", "output_padding"]) if (p[key]) p[key] = [1, ...p[key]];
    for (const key of ["padding", "direct_padding"]) if (p[key]) p[key] = [[0, 0], ...p[key]];
    for (const f of d.frames) {
      f.output_index = at(f.output_index, 1);
      if (f.argmax) f.argmax = at(f.argmax, 1);
      for (const t of f.terms) { t.input_index = at(t.input_index, 1); t.kernel_index = at(t.kernel_index, t.kernel_index.length - 1); }
      for (const r of f.routes || []) r.input_index = at(r.input_index, 1);
    }
    const rf = d.receptive_field;
    if (rf) rf.axes = [{ size: "1", jump: "1", start: "0", n_read: 1, phased: false }, ...rf.axes];
    return d;
  }

  function receptiveField() {
    const rf = data.receptive_field;
    const box = $("#a-rf");
    if (!rf) { box.textContent = ""; return; }
    const [fy, fx] = rf.axes;
    const holes = fy.n_read < fraction(fy.size) || fx.n_read < fraction(fx.size);
    const phased = fy.phased || fx.phased;
    const starts = [fraction(fy.start), fraction(fx.start)];
    box.innerHTML = "";
    const by = (a, b) => (data.dims === 1 ? `${b}` : `${a}×${b}`);   // 1-D: one axis, drawn as a row
    const patch = data.dims === 1 ? "-cell stretch" : " patch", cells = data.dims === 1 ? "cells" : "pixels";
    const lines = phased ? [
      `Receptive field: each output cell is reached by at most <b>${by(fy.n_read, fx.n_read)}</b> input cells ` +
        `(a span of ${by(fy.size, fx.size)}); which ones depends on the cell's position modulo the stride.`,
      `One output cell further is ${by(fy.jump, fx.jump)} of an input cell further (the jump): a transposed ` +
        `convolution with stride ${by(...data.params.stride)} spreads the input out by the stride.`,
    ] : [
      `Receptive field: each output cell sees a <b>${by(fy.size, fx.size)}</b>${patch} of the input` +
        (holes ? `, of which it reads <b>${by(fy.n_read, fx.n_read)}</b> ${cells}: dilation leaves holes (# - # - #)` : "") + ".",
      `Neighbouring output cells are <b>${by(fy.jump, fx.jump)}</b> input ${cells} apart (the jump, here the stride).`,
      `The first output cell's field is centred on input ${data.dims === 1 ? "cell" : "pixel"} (${rf.text.start})` +
        (starts.some(v => v < 0 || !Number.isInteger(v)) ? ": a negative or fractional centre means it overlaps the padding or has an even size." : "."),
    ];
    for (const l of lines) { const d = document.createElement("div"); d.className = "fact"; d.innerHTML = l; box.append(d); }
  }
  function fraction(text) { const [a, b] = String(text).split("/").map(Number); return b ? a / b : a; }

  // One step per frame in the direct view; per input cell in the scatter view of a transposed conv.
  function buildSteps() {
    if (data.view === "scatter") {
      const groups = new Map();
      for (const f of data.frames) {
        for (const t of f.terms) {
          const key = t.input_index.join();
          if (!groups.has(key)) groups.set(key, { input_index: t.input_index, targets: [] });
          groups.get(key).targets.push({ output_index: f.output_index, kernel_index: t.kernel_index });
        }
      }
      return [...groups.values()].sort((a, b) => a.input_index[1] - b.input_index[1] || a.input_index[2] - b.input_index[2]);
    }
    return data.frames;
  }

  // ----------------------------------------------------------- geometry
  function layout() {
    const [H, W] = [data.input[0].length, data.input[0][0].length];
    const p = data.params, [kh, kw] = p.kernel_size, [dh, dw] = p.dilation;
    const out = data.output[0], [Ho, Wo] = [out.length, out[0].length];
    let grid;   // the input as the window sees it: rows r0..r1, cols c0..c1 (input coordinates)
    if (data.op === "conv_transpose2d" && data.view === "direct") {
      const [sh, sw] = p.stride, dp = p.direct_padding;
      const rows = (H - 1) * sh + 1 + dp[0][0] + dp[0][1], cols = (W - 1) * sw + 1 + dp[1][0] + dp[1][1];
      grid = { kind: "direct", rows, cols, at: (y, x) => [y * sh + dp[0][0], x * sw + dp[1][0]],
               cell: (g, h) => {
                 const y = (g - dp[0][0]) / sh, x = (h - dp[1][0]) / sw;
                 if (g < dp[0][0] || h < dp[1][0] || y > H - 1 || x > W - 1) return { pad: true };
                 if (!Number.isInteger(y) || !Number.isInteger(x)) return { zero: true };
                 return { y, x };
               } };
    } else if (data.op === "conv_transpose2d") {
      grid = { kind: "plain", rows: H, cols: W, at: (y, x) => [y, x], cell: (g, h) => ({ y: g, x: h }) };
    } else {
      const [[t, b], [l, r]] = p.padding, [sh, sw] = p.stride;
      const rows = Math.max(H + t + b, (Ho - 1) * sh + (kh - 1) * dh + 1);
      const cols = Math.max(W + l + r, (Wo - 1) * sw + (kw - 1) * dw + 1);
      grid = { kind: "padded", rows, cols, at: (y, x) => [y + t, x + l],
               cell: (g, h) => {
                 const y = g - t, x = h - l;
                 if (y < 0 || x < 0 || y >= H || x >= W) return { pad: true, beyond: g >= H + t + b || h >= W + l + r };
                 return { y, x };
               } };
    }
    const backward = Boolean(data.backward);
    const columns = grid.cols + (data.kernel ? kw : 0) + Wo + 4 + (backward ? W + 1.5 : 0);
    const cell = Math.max(14, Math.min(40, Math.floor((canvas.width - 40) / columns)));
    const top = 34;
    const x0 = 10, xk = x0 + (grid.cols + 1.5) * cell, xo = xk + ((data.kernel ? kw : 0) + 1.5) * cell;
    const xg = xo + (Wo + 1.5) * cell;   // backward: the input gradient
    const height = top + Math.max(grid.rows, Ho, kh, backward ? H : 0) * cell + 16;
    return { H, W, Ho, Wo, kh, kw, dh, dw, grid, cell, top, x0, xk, xo, xg, height, backward };
  }

  // Which padded-grid cells the window of output (i, j) covers: every tap of the kernel.
  function taps(L, i, j) {
    const p = data.params;
    const [sh, sw] = data.op === "conv_transpose2d" ? [1, 1] : p.stride;
    const out = [];
    for (let a = 0; a < L.kh; a++) for (let b = 0; b < L.kw; b++) out.push([i * sh + a * L.dh, j * sw + b * L.dw, a, b]);
    return out;
  }

  function box(ctx, x, y, size, fill, stroke = C.line, dash = null) {
    ctx.fillStyle = fill;
    ctx.fillRect(x, y, size, size);
    ctx.setLineDash(dash || []);
    ctx.strokeStyle = stroke;
    ctx.lineWidth = 1;
    ctx.strokeRect(x + 0.5, y + 0.5, size - 1, size - 1);
    ctx.setLineDash([]);
  }
  function label(ctx, text, x, y, size, colour = C.text) {
    ctx.fillStyle = colour;
    ctx.font = `${Math.max(9, Math.floor(size * 0.38))}px ui-monospace, monospace`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(text, x + size / 2, y + size / 2 + 1);
  }
  function heading(ctx, text, x, y) {
    ctx.fillStyle = C.muted;
    ctx.font = "12px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "alphabetic";
    ctx.fillText(text, x, y);
  }

  // A two-stage op (separable: a k×1 pass, then a 1×k pass over its result) is drawn one stage at a
  // time: the frame's stage, with that stage's input, kernel and output, as a one-stage op.
  function draw() {
    if (!data || !data.stages || !steps.length) return drawFrame();
    const full = data, s = steps[frame].stage, st = full.stages[s];
    const offset = full.frames.findIndex(f => f.stage === s);
    data = { ...full, op: st.op, input: st.input, kernel: st.kernel, output: st.output, params: st.params,
             stage: { index: s, count: full.stages.length, name: st.name, offset } };
    try { drawFrame(); } finally { data = full; }
  }

  function drawFrame() {
    const ctx = canvas.getContext("2d");
    if (!data || !steps.length) {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      $("#a-sum").textContent = "";
      $("#a-frame-label").textContent = "";
      return;
    }
    const L = layout();
    if (canvas.height !== L.height) canvas.height = L.height;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const step = steps[frame];
    const input = data.input[0];
    const scatter = data.view === "scatter";
    const pool = data.op.includes("pool");

    // which grid cells are read, which are taps, which output cells are lit
    const read = new Set(), tapped = new Set(), lit = new Map();
    let span = null;
    if (scatter) {
      read.add(step.input_index.slice(1).join());
      for (const t of step.targets) lit.set(t.output_index.slice(1).join(), t.kernel_index);
    } else {
      for (const t of step.terms) read.add(L.grid.at(t.input_index[1], t.input_index[2]).join());
      const [, i, j] = step.output_index;
      const tp = taps(L, i, j);
      for (const [g, h] of tp) tapped.add(`${g},${h}`);
      span = [tp[0][0], tp[0][1], tp[tp.length - 1][0], tp[tp.length - 1][1]];
    }
    const argmax = step.argmax ? L.grid.at(step.argmax[1], step.argmax[2]).join() : null;

    // input grid
    const what = L.grid.kind === "direct" ? "input, zeros inserted, padded"
      : L.grid.kind === "padded" ? "input (grey: padding)" : "input";
    heading(ctx, data.stage && data.stage.index > 0 ? `intermediate, ${what}` : what, L.x0, 20);
    for (let g = 0; g < L.grid.rows; g++) {
      for (let h = 0; h < L.grid.cols; h++) {
        const c = L.grid.cell(g, h), key = `${g},${h}`;
        const x = L.x0 + h * L.cell, y = L.top + g * L.cell;
        const isRead = scatter ? (c.y !== undefined && read.has(`${c.y},${c.x}`)) : read.has(key);
        let fill = c.pad ? C.pad : c.zero ? C.zero : C.cell;
        if (tapped.has(key)) fill = C.tap;
        if (isRead) fill = C.term;
        if (argmax === key) fill = C.argmax;
        box(ctx, x, y, L.cell, fill, c.pad ? C.padLine : C.line, c.pad ? [3, 2] : null);
        const text = c.beyond ? "" : c.pad ? (pool && data.op === "max_pool2d" ? "−∞" : "0") : c.zero ? "0" : fmt(input[c.y][c.x]);
        label(ctx, text, x, y, L.cell, c.pad || c.zero ? C.muted : C.text);
      }
    }
    if (span) {   // the window's extent: with dilation, taps with holes between them
      ctx.strokeStyle = C.span;
      ctx.lineWidth = 2;
      ctx.strokeRect(L.x0 + span[1] * L.cell + 1, L.top + span[0] * L.cell + 1,
                     (span[3] - span[1] + 1) * L.cell - 2, (span[2] - span[0] + 1) * L.cell - 2);
    }

    // kernel
    if (data.kernel) {
      heading(ctx, data.op === "conv_transpose2d" && !scatter ? "kernel (applied turned 180°)" : "kernel", L.xk, 20);
      const w = data.kernel[0][0];
      const used = new Set(scatter ? step.targets.map(t => t.kernel_index.slice(2).join())
                                   : step.terms.map(t => t.kernel_index.slice(2).join()));
      for (let a = 0; a < L.kh; a++) for (let b = 0; b < L.kw; b++) {
        const x = L.xk + b * L.cell, y = L.top + a * L.cell;
        box(ctx, x, y, L.cell, used.has(`${a},${b}`) ? C.term : C.cell);
        label(ctx, fmt(w[a][b]), x, y, L.cell);
      }
    } else {
      heading(ctx, data.op === "max_pool2d" ? "window: max" : "window: mean", L.xk - L.cell, 20);
    }

    if (L.backward) drawBackward(ctx, L, step);
    else drawOutput(ctx, L, step, input, scatter, lit);
    sumText(step, input);
    $("#a-frame").value = String(frame);
    $("#a-frame-label").textContent = `${frame + 1} / ${steps.length}`;
  }

  function drawOutput(ctx, L, step, input, scatter, lit) {
    const out = data.output[0];

    // output
    const last = !data.stage || data.stage.index === data.stage.count - 1;
    heading(ctx, scatter ? "output (orange: this input cell's share)" : last ? "output" : "intermediate (the next pass's input)",
            L.xo, 20);
    const current = scatter ? null : step.output_index.slice(1).join();
    const doneUpTo = scatter ? -1 : frame - (data.stage ? data.stage.offset : 0);
    for (let i = 0; i < L.Ho; i++) for (let j = 0; j < L.Wo; j++) {
      const x = L.xo + j * L.cell, y = L.top + i * L.cell, key = `${i},${j}`;
      const index = i * L.Wo + j;
      let fill = C.cell;
      if (!scatter && index <= doneUpTo) fill = C.done;
      if (key === current || lit.has(key)) fill = C.current;
      box(ctx, x, y, L.cell, fill);
      let text = scatter || index <= doneUpTo ? fmt(out[i][j]) : "";
      if (lit.has(key)) {
        const [a, b] = lit.get(key).slice(2);
        const share = input[step.input_index[1]][step.input_index[2]] * data.kernel[0][0][a][b];
        text = `${share < 0 ? "−" : "+"}${fmt(Math.abs(share))}`;
      }
      label(ctx, text, x, y, L.cell, scatter && !lit.has(key) ? C.muted : C.text);
    }
  }

  // Backward: the upstream gradient dL/dy (current cell lit) and dL/dx summed over the routes of
  // the frames so far; the cells the current frame adds to are lit. After the last frame the sum
  // is the server's grad_input (cnnkit's own backward).
  function drawBackward(ctx, L, step) {
    const g = data.grad_output[0];
    heading(ctx, "upstream gradient dL/dy", L.xo, 20);
    const [, ci, cj] = step.output_index;
    for (let i = 0; i < L.Ho; i++) for (let j = 0; j < L.Wo; j++) {
      const x = L.xo + j * L.cell, y = L.top + i * L.cell, index = i * L.Wo + j;
      box(ctx, x, y, L.cell, i === ci && j === cj ? C.current : index < frame ? C.done : C.cell);
      label(ctx, fmt(g[i][j]), x, y, L.cell);
    }
    const acc = Array.from({ length: L.H }, () => new Array(L.W).fill(0));
    const touched = new Set(), now = new Set();
    for (let n = 0; n <= frame; n++) {
      for (const r of steps[n].routes) {
        const [, y, x] = r.input_index;
        acc[y][x] += r.amount;
        touched.add(`${y},${x}`);
        if (n === frame) now.add(`${y},${x}`);
      }
    }
    canvas.dataset.gradInput = JSON.stringify(acc);   // what is drawn, for tests and the curious
    heading(ctx, "dL/dx so far (orange: this frame adds)", L.xg, 20);
    for (let y = 0; y < L.H; y++) for (let x = 0; x < L.W; x++) {
      const key = `${y},${x}`, px = L.xg + x * L.cell, py = L.top + y * L.cell;
      box(ctx, px, py, L.cell, now.has(key) ? C.current : touched.has(key) ? C.done : C.cell);
      label(ctx, fmt(acc[y][x]), px, py, L.cell, touched.has(key) ? C.text : C.muted);
    }
  }

  function sumText(step, input) {
    const box = $("#a-sum");
    const at = (i, j) => (data.dims === 1 ? `${j}` : `${i}, ${j}`);   // a 1-D op's cells by position only
    if (data.backward) {
      const [, i, j] = step.output_index;
      const to = step.routes.map(r => `dx[${at(r.input_index[1], r.input_index[2])}] += ${fmt(r.amount)}`).join(", ");
      const how = data.op === "max_pool2d" ? "all of it to the window's maximum"
        : data.op === "avg_pool2d" ? `split evenly: ${fmt(step.grad)} / ${step.divisor} to each input cell of the window`
        : "times each kernel weight, to the input cell that weight met";
      box.textContent = `dy[${at(i, j)}] = ${fmt(step.grad)} goes back ${how}: ${to || "nowhere (the window covers only padding)"}`;
      return;
    }
    if (data.view === "scatter") {
      const [, y, x] = step.input_index;
      box.textContent = `input (${at(y, x)}) = ${fmt(input[y][x])} adds ${fmt(input[y][x])} × w to ${step.targets.length} output cells`;
      return;
    }
    const [, i, j] = step.output_index;
    const xs = step.terms.map(t => input[t.input_index[1]][t.input_index[2]]);
    let expr;
    if (data.op === "max_pool2d") expr = `max(${xs.map(v => fmt(v)).join(", ")})`;
    else if (data.op === "avg_pool2d") expr = `(${xs.map(v => fmt(v)).join(" + ")}) / ${step.divisor}`;
    else {
      const w = data.kernel[0][0];
      const paren = (v) => (v < 0 ? `(${fmt(v)})` : fmt(v));
      expr = step.terms.map((t, n) => `${paren(xs[n])}·${paren(w[t.kernel_index[2]][t.kernel_index[3]])}`).join(" + ") ||
        "0 (the window covers only padding)";
    }
    const stage = data.stage ? `stage ${data.stage.index + 1} of ${data.stage.count}, ${data.stage.name}: ` : "";
    box.textContent = `${stage}out[${at(i, j)}] = ${expr} = ${fmt(step.value)}`;
  }

  // ----------------------------------------------------------- player
  function tick() {
    if (!playing || !steps.length || page.hidden) return;
    frame = (frame + 1) % steps.length;
    draw();
  }
  function restartTimer() {
    clearInterval(timer);
    timer = setInterval(tick, 1800 / num("#a-speed"));
  }
  $("#a-play").addEventListener("click", () => { playing = !playing; $("#a-play").textContent = playing ? "pause" : "play"; });
  $("#a-prev").addEventListener("click", () => { playing = false; $("#a-play").textContent = "play"; frame = (frame - 1 + steps.length) % steps.length; draw(); });
  $("#a-next").addEventListener("click", () => { playing = false; $("#a-play").textContent = "play"; frame = (frame + 1) % steps.length; draw(); });
  $("#a-frame").addEventListener("input", () => { playing = false; $("#a-play").textContent = "play"; frame = num("#a-frame"); draw(); });
  $("#a-speed").addEventListener("input", restartTimer);
  for (const el of page.querySelectorAll("#a-controls input, #a-controls select")) {
    for (const kind of ["input", "change"]) el.addEventListener(kind, () => { frame = 0; syncControls(); later(); });
  }
  for (const b of page.querySelectorAll("[data-preset]")) {
    b.addEventListener("click", () => {
      const p = PRESETS[b.dataset.preset];
      $("#a-op").value = p.op;
      [["#a-in-h", "#a-in-w", p.in], ["#a-k-h", "#a-k-w", p.k], ["#a-s-h", "#a-s-w", p.s], ["#a-p-h", "#a-p-w", p.p],
       ["#a-d-h", "#a-d-w", p.d]].forEach(([a, c, v]) => { $(a).value = v[0]; $(c).value = v[1]; });
      $("#a-pad-mode").value = p.pad;
      frame = 0;
      load();
    });
  }
  syncControls();
  restartTimer();
  let started = false;
  return { onShow() { if (!started && shared.info.features.animate) { started = true; load(); } } };
}
