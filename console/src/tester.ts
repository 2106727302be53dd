// Test: a request body, headers and settings values, run through the tester; or a request
// auto-filled from the next delivery to a temporary capture URL.
import { api, type Json, path } from "./api";
import { errorText, field, h, replace, status } from "./dom";
import { drafts, type FunctionView } from "./functions";

const POLL_MS = 1000;

export function testTab({ fn, version, panel }: FunctionView): void {
  const body = h("textarea", { "aria-label": "Request body", rows: "12" }) as HTMLTextAreaElement;
  body.value = JSON.stringify({ hello: "world" }, null, 2);
  const headers = h("textarea", { "aria-label": "Request headers", rows: "4" }) as HTMLTextAreaElement;
  headers.value = JSON.stringify({ "Content-Type": "application/json" }, null, 2);
  const settings = h("textarea", { "aria-label": "Settings values", rows: "3" }) as HTMLTextAreaElement;
  settings.value = "{}";
  const result = h("section", { role: "region", "aria-label": "Test result", "aria-live": "polite" });
  const note = status();
  const fill = (payload: Json) => {
    body.value = typeof payload.body === "string" ? payload.body : JSON.stringify(payload.body ?? null, null, 2);
    headers.value = JSON.stringify(payload.headers ?? {}, null, 2);
  };
  const run = async () => {
    try {
      const payload = { body: parseBody(body.value), headers: JSON.parse(headers.value || "{}") };
      const draft = drafts.get(fn.id);
      const answer = await api("POST", path("functions", fn.id, "test"), {
        payload, settings: JSON.parse(settings.value || "{}"), version: version.number,
        ...(draft === undefined ? {} : { code: draft }) });
      showResult(result, answer);
      note.show("");
    } catch (error) { note.show(errorText(error), true); }
  };
  const capture = h("div", {});
  const autofill = async () => {
    try {
      const opened = await api("POST", "/captures");
      replace(capture, h("p", {}, "POST a delivery to this URL; the next one fills the request:"),
        h("code", { "aria-label": "Capture URL" }, opened.url));
      const poll = async () => {
        if (!panel.isConnected) return;
        try {
          const seen = await api("GET", path("captures", opened.id));
          if (!seen.payload) { setTimeout(poll, POLL_MS); return; }
          fill(seen.payload);
          replace(capture, h("p", { class: "notice" }, "Filled from the captured delivery."));
        } catch (error) { replace(capture); note.show(errorText(error), true); }  // expired, or signed out
      };
      setTimeout(poll, POLL_MS);
    } catch (error) { note.show(errorText(error), true); }
  };
  const which = drafts.has(fn.id) ? "the code in the editor (not yet saved)" : `version ${version.number}`;
  replace(panel, h("p", {}, `Runs ${which}.`), field("Request body", body), field("Headers (JSON)", headers),
    field("Settings values (JSON)", settings),
    h("div", {}, h("button", { onclick: run }, "Run test"),
      h("button", { onclick: autofill }, "Auto-fill via webhook")), capture, note, result);
}

function parseBody(text: string): unknown {
  try { return JSON.parse(text); } catch { return text; }
}

function showResult(region: HTMLElement, answer: Json): void {
  const block = (title: string, value: unknown) =>
    h("div", {}, h("h3", {}, title), h("pre", {}, typeof value === "string" ? value : JSON.stringify(value, null, 2)));
  const error = answer.error;
  replace(region, h("h2", {}, answer.ok ? "Test passed" : "Test failed"),
    error && h("p", { class: "error", role: "alert" },
      `${error.type}: ${error.message}` + (error.where ? ` (${error.where})` : "")),
    block(`Messages (${answer.messages.length})`, answer.messages),
    answer.objects.length ? block("Objects", answer.objects) : null,
    answer.logs.length ? block(answer.logs_truncated ? "Logs (first 4 KiB)" : "Logs", answer.logs.join("\n"))
      : h("p", { class: "muted" }, "No logs."),
    h("p", {}, `${answer.duration_ms.toFixed(1)} ms`));
}
