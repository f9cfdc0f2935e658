// Run trees (kind, name, duration, model, tokens, errors; details on demand) and the timeline.
import { fmtClock, fmtDateTime, fmtDuration, fmtTokens, h, kindBadge, timeMs, tokensTitle }
  from "./dom.js";

// The keys of the <details> the reader opened, so a re-render keeps them open.
const openKeys = new Set();

export function details(key, summary, fill, cls) {
  const el = h("details", { class: cls, "data-key": key, open: openKeys.has(key) }, summary);
  let filled = false;
  const fillOnce = () => {
    if (!filled && el.open) {
      filled = true;
      el.append(h("div", { class: "details-body" }, fill()));
    }
  };
  el.addEventListener("toggle", () => {
    if (el.open) openKeys.add(key);
    else openKeys.delete(key);
    fillOnce();
  });
  fillOnce();
  return el;
}

function pretty(value) {
  if (typeof value === "string") return value;
  return JSON.stringify(value, null, 2);
}

function section(title, value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "object" && Object.keys(value).length === 0) return null;
  return [h("h4", {}, title), h("pre", { class: "json" }, pretty(value))];
}

function runDetails(run) {
  const facts = [
    ["status", run.status],
    ["started", `${fmtDateTime(run.started_at).slice(0, 10)} ${fmtClock(run.started_at, true)}`],
    ["duration", fmtDuration(run.duration_ms)],
    ["source", run.source],
    ["grouping", run.grouping],
    ["run id", run.run_id],
  ];
  if (run.tokens) facts.push(["tokens", tokensTitle(run.tokens)]);
  return [
    h("dl", { class: "facts small" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    section("error", run.error),
    section("inputs", run.inputs),
    section("outputs", run.outputs),
    section("usage", run.usage),
    section("metadata", run.metadata),
  ];
}

export function runLine(run) {
  return h("span", { class: "run-line" },
    kindBadge(run.kind),
    h("span", { class: "run-name" }, run.name || "(unnamed)"),
    h("span", { class: "run-dur" }, fmtDuration(run.duration_ms)),
    run.model ? h("span", { class: "run-model" }, run.model) : null,
    run.tokens ? h("span", { class: "run-tokens", title: tokensTitle(run.tokens) },
      fmtTokens(run.tokens)) : null,
    run.status === "error" ? h("span", { class: "run-error" }, run.error || "error") : null);
}

function node(run) {
  return h("li", { class: run.status === "error" ? "node node-error" : "node" },
    details("io:" + run.run_id, h("summary", {}, runLine(run)), () => runDetails(run), "run"),
    run.children.length ? h("ul", { class: "tree" }, run.children.map(node)) : null);
}

export function runTree(root) {
  return h("ul", { class: "tree tree-root" }, node(root));
}

export function countRuns(run) {
  return 1 + run.children.reduce((n, child) => n + countRuns(child), 0);
}

function flatten(run, depth, out) {
  out.push([run, depth]);
  for (const child of run.children) flatten(child, depth + 1, out);
  return out;
}

// One waterfall per top-level run: each bar is placed within its top-level run's span.
export function timeline(roots, firstAt) {
  const start0 = timeMs(firstAt);
  return h("div", { class: "timeline" }, roots.map((root) => {
    const rows = flatten(root, 0, []);
    const t0 = timeMs(root.started_at);
    const span = Math.max(...rows.map(([r]) => timeMs(r.started_at) + r.duration_ms - t0), 1e-3);
    const offset = timeMs(root.started_at) - start0;
    return h("div", { class: "tl-group" },
      h("div", { class: "tl-head" },
        h("span", {}, fmtClock(root.started_at, true)),
        h("span", { class: "muted", title: "since the conversation's first run" },
          offset > 0 ? "+" + fmtDuration(offset) : "start"),
        h("span", { class: "muted tl-span" }, fmtDuration(span))),
      rows.map(([run, depth]) => {
        const bar = h("span", { class: `tl-bar kind-${run.kind}${run.status === "error"
          ? " tl-error" : ""}`, title: `${run.name}: ${fmtDuration(run.duration_ms)}` });
        bar.style.left = `${(100 * (timeMs(run.started_at) - t0)) / span}%`;
        bar.style.width = `${(100 * run.duration_ms) / span}%`;
        const label = h("span", { class: "tl-label" }, h("span", { class: `dot kind-${run.kind}` }),
          h("span", { class: "tl-name" }, run.name || run.kind));
        label.style.paddingLeft = `${Math.min(depth, 8) * 0.8}em`;
        return h("div", { class: "tl-row" }, label,
          h("span", { class: "tl-track" }, bar),
          h("span", { class: "tl-dur" }, fmtDuration(run.duration_ms)));
      }));
  }));
}
