// The errors log of a function or a source, newest first, with the request and the logs.
import type { Json } from "./api";
import { h } from "./dom";

export function errorsTable(errors: Json[]): HTMLElement {
  if (!errors.length) return h("p", {}, "No errors.");
  return h("table", { "aria-label": "Errors" },
    h("tr", {}, h("th", {}, "When"), h("th", {}, "Error"), h("th", {}, "Request"), h("th", {}, "Logs")),
    errors.map((e) => h("tr", {},
      h("td", {}, new Date(e.at * 1000).toISOString()),
      h("td", { class: "error" }, `${e.error.type}: ${e.error.message}`),
      h("td", {}, h("details", {}, h("summary", {}, e.request.url),
        h("pre", {}, e.request.headers.map((p: string[]) => p.join(": ")).join("\n") + "\n\n" + e.request.body))),
      h("td", {}, e.logs.length ? h("pre", {}, e.logs.join("\n")) : h("span", { class: "muted" }, "no logs")))));
}
