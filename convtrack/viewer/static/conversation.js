// One conversation: its facts (open or ended), its feedback, its transcript (each turn opens
// into its run tree), a timeline.
import { apiConversationUrl, ago, badge, fmtClock, fmtCost, fmtDateTime, fmtDuration, fmtTokens, h,
  kindBadge, poll, refreshAges, tokensTitle } from "./dom.js";
import { stateBadges } from "./list.js";
import { countRuns, details, runTree, timeline } from "./tree.js";

const LONG_TEXT = 1600;

function fact(label, value, title) {
  return h("div", { class: "fact", title }, h("dt", {}, label), h("dd", {}, value));
}

function feedbackItem(f) {
  const parts = [h("span", { class: "fb-key" }, f.key)];
  if (f.score !== null) parts.push(h("span", { class: "fb-score num" }, `score ${f.score}`));
  if (f.value !== null) parts.push(h("span", { class: "fb-value mono" }, JSON.stringify(f.value)));
  if (f.comment) parts.push(h("span", { class: "fb-comment" }, f.comment));
  parts.push(h("span", { class: "fb-on muted" },
    f.run_id ? `on run ${f.run_id}` : "on the conversation"));
  return h("li", { class: "fb-item", title: fmtDateTime(f.created_at) }, ...parts);
}

function feedbackList(items) {
  if (!items.length) return null;
  return h("section", { class: "feedback", "aria-label": "feedback" },
    h("h2", {}, "Feedback"), h("ul", { class: "fb-list" }, items.map(feedbackItem)));
}

function header(id, s, feedback) {
  const tokens = s.tokens.total ? fmtTokens(s.tokens).replace(" tok", "") : "—";
  return h("header", { class: "conv-header" },
    h("h1", { class: "mono conv-title" }, id,
      s.inferred ? badge("inferred", "inferred",
        "Grouped automatically from the message history (no id was given)") : null,
      ...stateBadges(s)),
    h("dl", { class: "facts" },
      fact("user", s.user_id || "—"),
      fact("agent", s.agent_id || "—"),
      fact("started", fmtDateTime(s.first_at)),
      fact("last activity", ago(s.last_at)),
      fact("runs", String(s.run_count)),
      fact("LLM calls", String(s.llm_count)),
      fact("tokens", tokens, tokensTitle(s.tokens.total ? s.tokens : null)),
      fact("cost", fmtCost(s.cost), s.cost === null ? "no known price for these models" :
        "US dollars, from the genai-prices tables"),
      s.error_count ? fact("errors", String(s.error_count)) : null,
      fact("state", s.ended_at ? "ended " + fmtDateTime(s.ended_at) : "open")),
    feedbackList(feedback));
}

function message(m) {
  const known = ["user", "assistant", "system", "tool", "error"];
  const cls = known.includes(m.role) ? m.role : "other";
  const text = h("div", { class: "msg-text" }, m.text);
  const bubble = h("div", { class: `msg msg-${cls}` }, h("div", { class: "msg-role" }, m.role),
    text);
  if (m.text.length > LONG_TEXT) {
    bubble.classList.add("clamped");
    bubble.append(h("button", { class: "link more", type: "button", onclick: (e) => {
      const clamped = bubble.classList.toggle("clamped");
      e.target.textContent = clamped ? "Show all" : "Show less";
    } }, "Show all"));
  }
  return bubble;
}

// The models and the summed tokens of a run and everything under it. An LLM run made inside
// an LLM run is the same model call (an SDK call under a LangChain chat model): its tokens
// count only when the run around it reported none, as the store's totals count them.
function usage(run, acc = { models: new Set(), tokens: null }, llmCounted = false) {
  if (run.model) acc.models.add(run.model);
  const llm = run.kind === "llm";
  const counts = run.tokens && !(llm && llmCounted);
  if (counts) {
    const t = acc.tokens || { input: 0, output: 0, total: 0 };
    for (const key of ["input", "output", "total"]) t[key] += run.tokens[key];
    acc.tokens = t;
  }
  const covered = llm && (llmCounted || Boolean(counts));
  for (const child of run.children) usage(child, acc, covered);
  return acc;
}

function failed(run) {
  return run.status === "error" || run.children.some(failed);
}

function turnCard(root, turn, number) {
  const used = usage(root);
  const errors = failed(root);
  const head = h("div", { class: "turn-head" },
    turn ? h("span", { class: "turn-no" }, `Turn ${number}`) : kindBadge(root.kind),
    h("span", { class: "turn-name" }, root.name),
    h("time", { datetime: root.started_at, title: fmtDateTime(root.started_at) },
      fmtClock(root.started_at)),
    h("span", {}, fmtDuration(root.duration_ms)),
    used.models.size ? h("span", { class: "mono" }, [...used.models].join(", ")) : null,
    used.tokens ? h("span", { title: tokensTitle(used.tokens) }, fmtTokens(used.tokens)) : null,
    errors ? badge("error", "error", root.error || "a run of this turn failed") : null);
  const n = countRuns(root);
  const tree = details("tree:" + root.run_id,
    h("summary", {}, `Run tree · ${n} run${n === 1 ? "" : "s"}`), () => runTree(root), "runs");
  return h("article", { class: turn ? "turn" : "turn activity", "data-root": root.run_id },
    head, turn ? turn.messages.map(message) : null, tree);
}

function empty(main, id, text) {
  main.replaceChildren(
    h("nav", { class: "crumbs" }, h("a", { href: "/" }, "← Conversations")),
    h("header", { class: "conv-header" }, h("h1", { class: "mono conv-title" }, id)),
    h("p", { class: "muted notice" }, text));
}

export function renderConversation(main, id) {
  document.title = `${id} · convtrack`;
  const cards = new Map(); // root run id -> {sig, el}
  let shell = null;
  let first = true;

  function onData(data, status) {
    if (status === 404) {
      shell = null;
      empty(main, id, "No runs recorded in this conversation yet; they will appear here.");
      return;
    }
    if (status !== 200) {
      shell = null;
      empty(main, id, (data && data.error) || `error ${status}`);
      return;
    }
    const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
    if (!shell) {
      shell = {
        head: h("div"),
        transcript: h("div", { class: "transcript", id: "transcript" }),
        timeline: h("div"),
      };
      main.replaceChildren(
        h("nav", { class: "crumbs" }, h("a", { href: "/" }, "← Conversations")),
        shell.head,
        h("div", { class: "conv-body" },
          h("section", { class: "panel" }, h("h2", {}, "Transcript"), shell.transcript),
          h("section", { class: "panel" }, h("h2", {}, "Timeline"), shell.timeline)));
    }
    shell.head.replaceChildren(header(id, data.summary, data.feedback || []));
    const turns = new Map(data.turns.map((t) => [t.root_run_id, t]));
    const seen = new Set();
    let number = 0;
    let added = false;
    const els = data.runs.map((root) => {
      const turn = turns.get(root.run_id);
      if (turn) number += 1;
      const sig = JSON.stringify([number, root, turn || null]);
      seen.add(root.run_id);
      const known = cards.get(root.run_id);
      if (known && known.sig === sig) return known.el;
      const el = turnCard(root, turn, number);
      if (!known && !first) {
        el.classList.add("fresh");
        added = true;
      }
      cards.set(root.run_id, { sig, el });
      return el;
    });
    for (const key of [...cards.keys()]) if (!seen.has(key)) cards.delete(key);
    shell.transcript.replaceChildren(...els);
    shell.timeline.replaceChildren(timeline(data.runs, data.summary.first_at));
    if (added && nearBottom) els[els.length - 1].scrollIntoView({ block: "end" });
    first = false;
  }

  poll(() => apiConversationUrl(id), onData);
  setInterval(() => refreshAges(main), 15000);
}
