// The viewer's entry point: "/" lists conversations, "/c/<id>" shows one.
import { renderConversation } from "./conversation.js";
import { h } from "./dom.js";
import { renderList } from "./list.js";

const main = document.getElementById("main");
const path = location.pathname;
if (path.startsWith("/c/")) {
  let id = null;
  try {
    id = decodeURIComponent(path.slice(3));
  } catch (err) {
    main.replaceChildren(h("p", { class: "notice" }, "This address names no conversation."));
  }
  if (id !== null) renderConversation(main, id);
} else {
  renderList(main);
}
