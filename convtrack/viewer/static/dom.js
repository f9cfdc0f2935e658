// DOM and formatting helpers. Whatever came from the store goes in as text, never as markup:
// h() puts strings in text nodes, and no script of the viewer ever has HTML parsed.

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function conversationHref(id) {
  return "/c/" + encodeURIComponent(id);
}

export function apiConversationUrl(id) {
  return "/api/conversations/" + encodeURIComponent(id);
}

// Milliseconds since the epoch of an ISO 8601 time, keeping its microseconds.
export function timeMs(iso) {
  const fraction = /\.(\d+)/.exec(iso);
  const whole = Date.parse(iso.replace(/\.\d+/, ""));
  return whole + (fraction ? Number("0." + fraction[1]) * 1000 : 0);
}

export function fmtDuration(ms) {
  if (!Number.isFinite(ms)) return "";
  if (ms < 0.01) return "<0.01 ms";
  if (ms < 1) return ms.toFixed(2) + " ms";
  if (ms < 1000) return (ms < 10 ? ms.toFixed(1) : Math.round(ms)) + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

export function fmtClock(iso, millis = false) {
  const d = new Date(timeMs(iso));
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return millis ? `${clock}.${pad(d.getMilliseconds(), 3)}` : clock;
}

export function fmtDateTime(iso) {
  const d = new Date(timeMs(iso));
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${fmtClock(iso)}`;
}

export function fmtAgo(iso, now = Date.now()) {
  const s = Math.max(0, (now - timeMs(iso)) / 1000);
  if (s < 10) return "just now";
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 86400 * 30) return `${Math.floor(s / 86400)} d ago`;
  return fmtDateTime(iso).slice(0, 10);
}

// A <time> that says "3 min ago" and keeps saying the truth (see refreshAges).
export function ago(iso) {
  return h("time", { datetime: iso, title: fmtDateTime(iso), "data-ago": iso }, fmtAgo(iso));
}

export function refreshAges(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll("time[data-ago]")) {
    el.textContent = fmtAgo(el.getAttribute("data-ago"), now);
  }
}

export function fmtTokens(tokens) {
  if (!tokens) return "";
  return `${tokens.total.toLocaleString("en-US")} tok`;
}

// US dollars, as precise as small amounts need ("$0.00042"); none known: an em dash.
export function fmtCost(cost) {
  if (cost === null || cost === undefined) return "—";
  if (cost === 0) return "$0";
  return "$" + (cost >= 1 ? cost.toFixed(2) : cost.toPrecision(2));
}

// A token count in few characters: 950, 12.3k, 4.1M.
export function fmtCount(n) {
  if (n < 1000) return String(n);
  if (n < 1e6) return (n / 1000).toFixed(n < 10000 ? 1 : 0) + "k";
  return (n / 1e6).toFixed(1) + "M";
}

export function tokensTitle(tokens) {
  return tokens ? `${tokens.input} input + ${tokens.output} output tokens` : "";
}

export function badge(text, kind, title) {
  return h("span", { class: `badge badge-${kind}`, title }, text);
}

export function kindBadge(kind) {
  const known = ["llm", "chain", "tool", "retriever", "http", "task", "function"];
  return h("span", { class: `kind kind-${known.includes(kind) ? kind : "other"}` }, kind);
}

export function setLive(ok, text) {
  const el = document.getElementById("live");
  if (!el) return;
  el.classList.toggle("live-ok", ok);
  el.classList.toggle("live-down", !ok);
  el.textContent = text || (ok ? "live" : "offline");
  el.title = ok ? "Updates appear as they are recorded" : "The viewer cannot be reached; retrying";
}

// Poll a JSON URL: onData(json, status) on every change (the ETag saves the rest).
// refresh() starts over at once, e.g. after the URL's filters change.
export function poll(urlFn, onData, intervalMs = 1500) {
  let generation = 0;
  let etag = null;
  let timer = null;
  async function tick(gen) {
    if (!document.hidden) {
      try {
        const headers = etag ? { "If-None-Match": etag } : {};
        const res = await fetch(urlFn(), { headers, cache: "no-store" });
        if (gen !== generation) return;
        if (res.status !== 304) {
          const data = await res.json();
          if (gen !== generation) return;
          etag = res.ok ? res.headers.get("ETag") : null;
          onData(data, res.status);
        }
        setLive(true);
      } catch (err) {
        if (gen !== generation) return;
        setLive(false);
      }
    }
    timer = setTimeout(() => tick(gen), intervalMs);
  }
  tick(generation);
  return {
    refresh() {
      generation += 1;
      etag = null;
      clearTimeout(timer);
      tick(generation);
    },
  };
}
