// Colour scales and drawing 2-D grids of numbers onto canvases.
// viridis (perceptually uniform, colour-blind safe; by van der Walt and Smith, CC0) at 17 stops,
// and a blue - white - orange diverging scale (also readable with red-green colour blindness).

const VIRIDIS = ["#440154", "#48186a", "#472d7b", "#424086", "#3b528b", "#33638d", "#2c728e", "#26828e",
  "#21918c", "#1fa088", "#28ae80", "#3fbc73", "#5ec962", "#84d44b", "#addc30", "#d8e219", "#fde725"]
  .map(hex => [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16)));
const BLUE = [33, 102, 172], WHITE = [247, 247, 247], ORANGE = [230, 97, 1];

function mix(a, b, t) { return [0, 1, 2].map(i => Math.round(a[i] + (b[i] - a[i]) * t)); }

export function viridis(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  return mix(VIRIDIS[i], VIRIDIS[i + 1], x - i);
}

// t in [-1, 1]: -1 blue, 0 white, 1 orange.
export function diverging(t) {
  const x = Math.min(1, Math.max(-1, t));
  return x < 0 ? mix(WHITE, BLUE, -x) : mix(WHITE, ORANGE, x);
}

export function grey(t) { const v = Math.round(255 * Math.min(1, Math.max(0, t))); return [v, v, v]; }

// The range to colour `values` with: [0, max] for non-negative data (viridis),
// [-m, m] with m = max |v| for signed data (diverging).
export function rangeOf(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (!isFinite(lo)) return { lo: 0, hi: 1, signed: false };
  if (lo >= 0) return { lo: 0, hi: hi > 0 ? hi : 1, signed: false };
  const m = Math.max(-lo, hi) || 1;
  return { lo: -m, hi: m, signed: true };
}

export function colourOf(v, range) {
  return range.signed ? diverging(v / range.hi) : viridis((v - range.lo) / (range.hi - range.lo));
}

export function flatten(grid) { return grid.flat(Infinity); }

// Draw a 2-D array (rows of numbers) at one canvas pixel per value; CSS scales it up.
export function drawGrid(canvas, grid, range, scale = 1, colour = colourOf) {
  const h = grid.length, w = grid[0].length;
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  canvas.style.width = `${w * scale}px`;
  canvas.style.height = `${h * scale}px`;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b] = colour(grid[y][x], range);
      const k = 4 * (y * w + x);
      img.data[k] = r; img.data[k + 1] = g; img.data[k + 2] = b; img.data[k + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}

// A grey picture with values lo..hi, drawn `scale` canvas pixels per value (crisp), for overlays.
export function drawPicture(ctx, grid, scale, lo, hi, colour = (t) => grey(t), alpha = 1) {
  const span = hi > lo ? hi - lo : 1;
  for (let y = 0; y < grid.length; y++) {
    for (let x = 0; x < grid[0].length; x++) {
      const [r, g, b] = colour((grid[y][x] - lo) / span);
      const a = typeof alpha === "function" ? alpha((grid[y][x] - lo) / span) : alpha;
      ctx.fillStyle = `rgba(${r},${g},${b},${a})`;
      ctx.fillRect(x * scale, y * scale, scale, scale);
    }
  }
}

export function legend(range, label = "") {
  const box = document.createElement("div");
  box.className = "legend";
  const bar = document.createElement("canvas");
  bar.width = 90; bar.height = 1;
  const ctx = bar.getContext("2d");
  for (let i = 0; i < 90; i++) {
    const v = range.lo + (range.hi - range.lo) * (i / 89);
    const [r, g, b] = colourOf(v, range);
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(i, 0, 1, 1);
  }
  const lo = document.createElement("span"), hi = document.createElement("span");
  lo.textContent = fmt(range.lo); hi.textContent = fmt(range.hi);
  box.append(lo, bar, hi);
  if (label) { const l = document.createElement("span"); l.textContent = label; box.append(l); }
  return box;
}

export function fmt(v, digits = 3) {
  if (v === null || v === undefined) return "–";
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return String(Number(v.toPrecision(digits)));
}
