// Talking to the explorer's JSON API. Every error the server sends is {"error": "..."};
// requests that fail reject with an Error whose message is that text.

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function answer(response) {
  let body = null;
  try { body = await response.json(); } catch (e) { /* not JSON */ }
  if (!response.ok) {
    const message = body && body.error ? body.error : `the server answered ${response.status} ${response.statusText}`;
    throw new ApiError(message, response.status);
  }
  return body;
}

export async function getJSON(path) {
  return answer(await fetch(path, { headers: { accept: "application/json" } }));
}

export async function postJSON(path, body) {
  return answer(await fetch(path, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  }));
}

// Upload one file (multipart field "file") with extra text fields.
export async function upload(path, file, fields = {}, maxBytes = Infinity) {
  if (file.size > maxBytes) {
    throw new ApiError(`${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MiB, over the server's limit of ` +
                       `${(maxBytes / 2 ** 20).toFixed(1)} MiB`, 413);
  }
  const form = new FormData();
  form.append("file", file, file.name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return answer(await fetch(path, { method: "POST", body: form }));
}

// Show (or, with null, hide) an error in an element with class "error".
export function showError(element, error) {
  if (!error) { element.hidden = true; element.textContent = ""; return; }
  element.hidden = false;
  element.textContent = error.message || String(error);
}

// Run `task` at most once at a time: a call while one runs marks it to run again afterwards,
// so a stream of events (pointer moves, typing) always ends with an up-to-date answer.
export function latest(task) {
  let running = false, again = false;
  const run = async () => {
    if (running) { again = true; return; }
    running = true;
    try { await task(); } finally {
      running = false;
      if (again) { again = false; run(); }
    }
  };
  return run;
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}
