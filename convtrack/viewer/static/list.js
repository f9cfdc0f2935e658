// The conversation list: filters (user, agent, id, metadata, text, status, feedback, open or
// ended, time), newest first, live; older pages through the API's cursor.
import { ago, badge, conversationHref, fmtCost, fmtCount, fmtDateTime, h, poll,
  refreshAges } from "./dom.js";

const SINCE_CHOICES = [
  ["", "Any time"],
  ["15m", "Last 15 minutes"],
  ["1h", "Last hour"],
  ["24h", "Last 24 hours"],
  ["7d", "Last 7 days"],
];
const STATUS_CHOICES = [["", "Any"], ["error", "With errors"], ["ok", "Without errors"]];
const ENDED_CHOICES = [["", "Any"], ["false", "Open"], ["true", "Ended"]];
const FIELDS = ["user_id", "agent_id", "q", "metadata", "text", "status", "feedback", "ended",
  "since"];

function field(name, label, placeholder, listId) {
  return h("label", { class: "field" }, h("span", {}, label),
    h("input", { name, type: "search", placeholder, list: listId, autocomplete: "off",
      spellcheck: "false" }));
}

function statusField() {
  const select = h("select", { name: "status" },
    STATUS_CHOICES.map(([value, text]) => h("option", { value }, text)));
  return h("label", { class: "field" }, h("span", {}, "Status"), select);
}

function endedField() {
  const select = h("select", { name: "ended" },
    ENDED_CHOICES.map(([value, text]) => h("option", { value }, text)));
  return h("label", { class: "field" }, h("span", {}, "State"), select);
}

// Open or ended (by end_conversation(), or idle past the store's timeout), and feedback.
export function stateBadges(conv) {
  return [
    conv.ended_at
      ? badge("ended", "ended", "Ended " + fmtDateTime(conv.ended_at))
      : badge("open", "open", "Open: not ended, and active recently"),
    conv.feedback_count
      ? badge(`${conv.feedback_count} feedback`, "feedback", "Feedback records on it or its runs")
      : null,
  ];
}

function sinceField() {
  const select = h("select", { name: "since" },
    SINCE_CHOICES.map(([value, text]) => h("option", { value }, text)));
  return h("label", { class: "field" }, h("span", {}, "Active"), select);
}

function row(conv, fresh) {
  const id = h("span", { class: "conv-id mono", title: conv.conversation_id }, conv.conversation_id);
  const tokens = conv.input_tokens + conv.output_tokens;
  return h("li", { class: fresh ? "conv-item fresh" : "conv-item" },
    h("a", { class: "conv", href: conversationHref(conv.conversation_id) },
      h("span", { class: "c-id" },
        h("span", { class: "c-id-line" }, id,
          conv.inferred ? badge("inferred", "inferred",
            "Grouped automatically from the message history (no id was given)") : null,
          ...stateBadges(conv)),
        conv.first_input ? h("span", { class: "c-preview muted", title: conv.first_input },
          conv.first_input) : null),
      h("span", { class: "c-user" }, h("span", { class: "label" }, "user "),
        conv.user_id || "—"),
      h("span", { class: "c-agent" }, h("span", { class: "label" }, "agent "),
        conv.agent_id || "—"),
      h("span", { class: "c-runs num", title: "runs" }, String(conv.run_count),
        h("span", { class: "label" }, " runs")),
      h("span", { class: "c-llm num", title: "LLM calls" }, String(conv.llm_count),
        h("span", { class: "label" }, " LLM")),
      h("span", { class: "c-tokens num",
        title: `${conv.input_tokens} input + ${conv.output_tokens} output tokens` },
        tokens ? fmtCount(tokens) : "—", h("span", { class: "label" }, " tok")),
      h("span", { class: "c-cost num", title: conv.cost === null ? "no known price" : "US dollars" },
        fmtCost(conv.cost)),
      h("span", { class: conv.error_count ? "c-errors num has-errors" : "c-errors num",
        title: "failed runs" }, String(conv.error_count),
        h("span", { class: "label" }, " errors")),
      h("span", { class: "c-last", title: "started " + fmtDateTime(conv.first_at) },
        ago(conv.last_at))));
}

export function renderList(main) {
  document.title = "Conversations · convtrack";
  const form = h("form", { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() },
    field("user_id", "User", "any user", "users"),
    field("agent_id", "Agent", "any agent", "agents"),
    field("q", "Conversation id", "contains…"),
    field("metadata", "Metadata", "key=value"),
    field("text", "Messages", "contain…"),
    statusField(),
    field("feedback", "Feedback", "key"),
    endedField(),
    sinceField(),
    h("button", { type: "reset", class: "button" }, "Clear"));
  const users = h("datalist", { id: "users" });
  const agents = h("datalist", { id: "agents" });
  const count = h("p", { class: "count muted", "aria-live": "polite" });
  const head = h("div", { class: "conv-head-row", "aria-hidden": "true" },
    ["Conversation", "User", "Agent", "Runs", "LLM", "Tokens", "Cost", "Errors",
      "Last activity"].map((t) => h("span", {}, t)));
  const list = h("ul", { class: "convs", id: "conversations" });
  const newest = h("button", { type: "button", class: "button", hidden: true }, "Newest");
  const older = h("button", { type: "button", class: "button", hidden: true }, "Older →");
  const pager = h("nav", { class: "pager", "aria-label": "pages" }, newest, older);
  main.replaceChildren(h("h1", {}, "Conversations"), form, users, agents, count, head, list,
    pager);

  const url = new URL(location.href);
  for (const name of FIELDS) form.elements[name].value = url.searchParams.get(name) || "";
  let cursor = url.searchParams.get("before");
  const limit = url.searchParams.get("limit");  // page size, from the address only
  let nextCursor = null;

  const seen = { users: new Set(), agents: new Set() };
  let previous = null;
  function onData(data, status) {
    if (status !== 200) {
      count.textContent = data && data.error ? data.error : `error ${status}`;
      list.replaceChildren();
      return;
    }
    document.getElementById("db").textContent = data.db || "";
    nextCursor = data.next_cursor;
    older.hidden = !nextCursor;
    newest.hidden = !cursor;
    const before = new Map((previous || []).map((c) => [c.conversation_id, c.last_at]));
    list.replaceChildren(...data.conversations.map((c) =>
      row(c, previous !== null && before.get(c.conversation_id) !== c.last_at)));
    previous = data.conversations;
    const n = data.conversations.length;
    const filtered = FIELDS.some((name) => form.elements[name].value);
    count.textContent = n === 0
      ? (filtered ? "No conversation matches these filters." :
        "No conversations yet: they appear here as your application records them.")
      : `${n}${n === data.limit ? "+" : ""} conversation${n === 1 ? "" : "s"}` +
        (filtered ? " match" + (n === 1 ? "es" : "") + " these filters" : "");
    for (const c of data.conversations) {
      if (c.user_id && !seen.users.has(c.user_id)) {
        seen.users.add(c.user_id);
        users.append(h("option", { value: c.user_id }));
      }
      if (c.agent_id && !seen.agents.has(c.agent_id)) {
        seen.agents.add(c.agent_id);
        agents.append(h("option", { value: c.agent_id }));
      }
    }
  }

  function query() {
    const params = new URLSearchParams();
    for (const name of FIELDS) {
      const value = form.elements[name].value.trim();
      if (value) params.set(name, value);
    }
    if (limit) params.set("limit", limit);
    if (cursor) params.set("before", cursor);
    return params;
  }
  const poller = poll(() => "/api/conversations?" + query().toString(), onData);
  function show() {
    const params = query().toString();
    history.replaceState(null, "", params ? "/?" + params : "/");
    previous = null;
    poller.refresh();
  }
  let debounce = null;
  function changed() {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      cursor = null;
      show();
    }, 250);
  }
  older.addEventListener("click", () => {
    cursor = nextCursor;
    show();
  });
  newest.addEventListener("click", () => {
    cursor = null;
    show();
  });
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("reset", () => setTimeout(changed, 0));
  setInterval(() => refreshAges(list), 15000);
}
