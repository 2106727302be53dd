// Sources: connect one to a function; its settings form from the version's schema (encrypted
// values only as set / not set), webhook URL, pause, resume, rollback, events and errors.
import { api, type Json, path } from "./api";
import { confirmed, errorText, field, h, replace, status } from "./dom";
import { errorsTable } from "./errors";
import type { Context } from "./main";

const RECENT = 50;

export async function sourcesPage(ctx: Context): Promise<void> {
  const [{ sources }, { functions }] = await Promise.all([api("GET", "/sources"), api("GET", "/functions")]);
  const names = new Map(functions.map((f: Json) => [f.id, f.name]));
  const fnSelect = h("select", { "aria-label": "Function" },
    functions.map((f: Json) => h("option", { value: f.id }, f.name))) as HTMLSelectElement;
  const name = h("input", { "aria-label": "Source name" }) as HTMLInputElement;
  const note = status();
  const form = h("form", { hidden: true, onsubmit: async (event: Event) => {
    event.preventDefault();
    try {
      const source = await api("POST", "/sources", { name: name.value.trim(), function: fnSelect.value });
      ctx.go(`#/sources/${encodeURIComponent(source.name)}`);
    } catch (error) { note.show(errorText(error), true); }
  } }, field("Function", fnSelect), field("Source name", name), h("button", { type: "submit" }, "Connect"), note);
  const list = h("table", {}, h("tr", {}, h("th", {}, "Source"), h("th", {}, "Function"), h("th", {}, "Version"), h("th", {}, "State")),
    sources.map((s: Json) => h("tr", {}, h("td", {}, h("a", { href: `#/sources/${encodeURIComponent(s.name)}` }, s.name)),
      h("td", {}, String(names.get(s.function) ?? s.function)), h("td", {}, `v${s.version}`), h("td", {}, s.paused ? "paused" : "running"))));
  replace(ctx.main, h("h1", {}, "Sources"),
    h("button", { onclick: () => { form.hidden = false; name.focus(); } }, "Connect source"), form,
    sources.length ? list : h("p", {}, "No sources yet."));
}

export async function sourcePage(ctx: Context, ref: string): Promise<void> {
  const source = await api("GET", path("sources", ref));
  const [fn, version, { events }, { errors }] = await Promise.all([
    api("GET", path("functions", source.function)),
    api("GET", path("functions", source.function, "versions", String(source.version))),
    api("GET", path("sources", source.id, "events") + `?limit=${RECENT}&newest=true`),
    api("GET", path("sources", source.id, "errors"))]);
  const note = status();
  const reload = () => sourcePage(ctx, source.id);
  const act = (label: string, change: () => Promise<unknown>) => h("button", { onclick: async () => {
    try { await change(); await reload(); } catch (error) { note.show(errorText(error), true); }
  } }, label);
  const patch = (body: Json) => api("PATCH", path("sources", source.id), body);
  const url = h("input", { readonly: true, "aria-label": "Webhook URL", value: source.webhook_url, size: "70" }) as HTMLInputElement;
  const copy = h("button", { onclick: async () => {
    try { await navigator.clipboard.writeText(source.webhook_url); note.show("Webhook URL copied."); }
    catch { url.select(); note.show("Select the URL and copy it (the browser refused the clipboard)."); }
  } }, "Copy webhook URL");
  const inputs = new Map<string, HTMLInputElement>();
  const settingsForm = h("form", { onsubmit: async (event: Event) => {
    event.preventDefault();
    const values: Json = {};
    for (const spec of version.settings_schema) {
      const input = inputs.get(spec.name) as HTMLInputElement;
      if (spec.encrypted && input.value === "") continue;  // not changed
      values[spec.name] = settingValue(spec.type, input);
    }
    try { await patch({ settings: values }); await reload(); } catch (error) { note.show(errorText(error), true); }
  } }, h("legend", {}, "Settings"), version.settings_schema.map((spec: Json) => {
    const input = h("input", spec.type === "boolean" ? { type: "checkbox", checked: !!source.settings[spec.name] }
      : { type: spec.encrypted ? "password" : "text", placeholder: spec.encrypted ? `(${source.secrets[spec.name]})` : "",
          value: spec.encrypted || source.settings[spec.name] === undefined ? "" : displayed(source.settings[spec.name]) }) as HTMLInputElement;
    inputs.set(spec.name, input);
    return h("div", {}, field(spec.label + (spec.required ? " *" : ""), input),
      spec.encrypted && h("span", {}, ` encrypted: ${source.secrets[spec.name]}`));
  }), version.settings_schema.length ? h("button", { type: "submit" }, "Save settings") : h("p", {}, "The version has no settings."));
  const rollback = source.version > 1 && act(`Roll back to v${source.version - 1}`, () =>
    api("POST", path("functions", source.function, "deploy"), { sources: [source.id], version: source.version - 1 }));
  replace(ctx.main, h("h1", {}, source.name),
    h("p", {}, `Function ${fn.name}, version ${source.version}, ${source.paused ? "paused" : "running"}`),
    h("div", {}, field("Webhook URL", url), copy), note,
    h("div", {}, source.paused ? act("Resume", () => patch({ paused: false })) : act("Pause", () => patch({ paused: true })), rollback,
      act("Refresh", async () => undefined),
      confirmed("Delete source", `Delete ${source.name}? Its webhook URL stops working for good.`,
        async () => { await api("DELETE", path("sources", source.id)); ctx.go("#/sources"); }, note)),
    h("fieldset", {}, settingsForm),
    h("h2", {}, "Recent events"),
    events.length ? h("table", { "aria-label": "Recent events" }, h("tr", {}, h("th", {}, "Received"), h("th", {}, "Type"), h("th", {}, "Message")),
      events.map((e: Json) => h("tr", {}, h("td", {}, new Date(e.received_at * 1000).toISOString()),
        h("td", {}, `${e.message.type}${e.message.event ? " " + e.message.event : ""}`), h("td", {}, h("pre", {}, JSON.stringify(e.message, null, 2))))))
      : h("p", {}, "No events yet."),
    h("h2", {}, "Errors"), errorsTable(errors));
}

function displayed(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function settingValue(type: string, input: HTMLInputElement): unknown {
  if (type === "boolean") return input.checked;
  if (input.value === "") return null;
  if (type === "number") return Number(input.value);
  if (type === "array" || type === "text_map") return JSON.parse(input.value);
  return input.value;
}
