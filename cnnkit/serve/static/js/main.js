// The explorer's entry point: loads /api/info, starts each page, switches pages by the URL's #hash.
import { getJSON } from "./api.js";
import { initDraw } from "./draw.js";
import { initKernels } from "./kernels.js";
import { initArithmetic } from "./arithmetic.js";
import { initModel } from "./model.js";

// What the pages share: the server's description and the current digit (28x28, 0..255).
export const shared = {
  info: null,
  digit: null,          // the last MNIST-style digit the server made (Draw page, MNIST, upload)
  digitSource: "",
  listeners: [],
  setDigit(digit, source) {
    this.digit = digit; this.digitSource = source;
    for (const f of this.listeners) f(digit, source);
  },
  onDigit(f) { this.listeners.push(f); },
};

const pages = {};

function show(name) {
  if (!pages[name]) name = "draw";
  for (const [key, page] of Object.entries(pages)) {
    page.element.hidden = key !== name;
  }
  for (const a of document.querySelectorAll(".tabs a")) a.classList.toggle("active", a.dataset.page === name);
  document.title = `cnnkit explorer · ${name}`;
  if (pages[name].onShow) pages[name].onShow();
}

async function start() {
  shared.info = await getJSON("/api/info");
  document.getElementById("model-badge").textContent = `model: ${shared.info.model.title}`;
  const starters = { draw: initDraw, kernels: initKernels, arithmetic: initArithmetic, model: initModel };
  for (const [name, init] of Object.entries(starters)) {
    const element = document.getElementById(`page-${name}`);
    pages[name] = { element, ...(init(element, shared) || {}) };
  }
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
  show(location.hash.slice(1) || "draw");
  document.body.dataset.ready = "true";
}

start().catch(error => {
  const box = document.createElement("div");
  box.className = "error";
  box.textContent = `The explorer could not start: ${error.message}`;
  document.querySelector("main").prepend(box);
});
