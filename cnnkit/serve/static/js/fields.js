// Receptive fields on the pictures: which input pixels one unit of a layer can see, from the
// summary table's numbers per axis (cnnkit.analysis.summary: start, jump, size).

// The unit (y, x)'s field as [top, bottom, left, right], half-open, in input pixels; `shift` moves
// it (the Draw page shows the 28x28 digit, the model sees it padded by 2 to 32x32: shift -2).
export function unitBox(field, y, x, shift = 0) {
  const span = (f, i) => {
    const centre = f.start + i * f.jump + shift, half = (f.size - 1) / 2;
    return [centre - half, centre + half + 1];
  };
  return [...span(field[0], y), ...span(field[1], x)];
}

// "rows 3–16, columns 5–18" (clipped to a picture of `size` pixels).
export function boxText(box, size) {
  const lo = (v) => Math.max(0, Math.ceil(v)), hi = (v) => Math.min(size - 1, Math.floor(v - 1));
  return `rows ${lo(box[0])}–${hi(box[1])}, columns ${lo(box[2])}–${hi(box[3])}`;
}

export function strokeBox(ctx, box, scale, colour = "#f0a30a") {
  const [y0, y1, x0, x1] = box.map(v => v * scale);
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2;
  ctx.strokeRect(x0 + 1, y0 + 1, x1 - x0 - 2, y1 - y0 - 2);
}
