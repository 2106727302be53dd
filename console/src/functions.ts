// Functions: the list, and a page per function with its tabs.
import { api, type Json, path } from "./api";
import { createEditor, type Problem } from "./editor";
import { errorsTable } from "./errors";
import { confirmed, errorText, field, h, replace, status } from "./dom";
import type { Context } from "./main";
import { settingsTab } from "./settings";
import { testTab } from "./tester";
import { versionsTab } from "./versions";

const STARTER = `def on_request(request, settings):
    body = request.json()
    Segment.track({"event": "Hello", "userId": "u1", "properties": body})
`;
const TABS = ["Code", "Settings", "Test", "Versions", "Errors"];
// Set when the arrow keys change tabs: the new page's selected tab takes the focus (the ARIA
// tabs pattern), where a click leaves it be.
let focusTab = false;

export async function functionsPage(ctx: Context): Promise<void> {
  const { functions } = await api("GET", "/functions");
  const list = h("table", {}, h("tr", {}, h("th", {}, "Function"), h("th", {}, "Description"),
                                h("th", {}, "Latest version"), h("th", {}, "Updated")),
    functions.map((f: Json) => h("tr", {}, h("td", {}, h("a", { href: `#/functions/${encodeURIComponent(f.name)}` }, f.name)),
                                h("td", {}, f.description ?? ""), h("td", {}, String(f.latest_version)),
                                h("td", {}, f.updated_at))));
  const create = ctx.roles.canCreateFunctions() ? newFunction(ctx) : null;
  replace(ctx.main, h("h1", {}, "Functions"), create, functions.length ? list : h("p", {}, "No functions yet."));
}

function newFunction(ctx: Context): HTMLElement {
  const name = h("input", { "aria-label": "Name", placeholder: "my-function" }) as HTMLInputElement;
  const description = h("input", { "aria-label": "Description", size: "40" }) as HTMLInputElement;
  const note = status();
  const form = h("form", { hidden: true, onsubmit: async (event: Event) => {
    event.preventDefault();
    try {
      await api("POST", "/functions", { name: name.value.trim(), code: STARTER,
                                        description: description.value.trim() });
      ctx.go(`#/functions/${encodeURIComponent(name.value.trim())}/code`);
    } catch (error) { note.show(errorText(error), true); }
  } }, field("Name", name), field("Description", description), h("button", { type: "submit" }, "Create"), note);
  const open = h("button", { onclick: () => { form.hidden = false; name.focus(); } }, "New function");
  return h("div", {}, open, form);
}

export async function functionPage(ctx: Context, ref: string, tab: string): Promise<void> {
  const fn = await api("GET", path("functions", ref));
  const version = await api("GET", path("functions", fn.id, "versions", String(fn.latest_version)));
  const shown = TABS.filter((t) => t !== "Errors" && t !== "Test" || ctx.roles.canTest(fn.id));
  const current = shown.find((t) => t.toLowerCase() === tab) ?? "Code";
  const open = (t: string) => ctx.go(`#/functions/${encodeURIComponent(fn.name)}/${t.toLowerCase()}`);
  const tabs = h("div", { role: "tablist", "aria-label": "Function", onkeydown: (event: Event) => {
    const key = (event as KeyboardEvent).key;
    const at = shown.indexOf(current);
    const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: shown.length - 1 }[key];
    if (next === undefined) return;
    event.preventDefault();
    focusTab = true;
    open(shown[(next + shown.length) % shown.length]);
  } }, shown.map((t) => h("button", { role: "tab", id: `tab-${t.toLowerCase()}`,
      "aria-selected": String(t === current), "aria-controls": "tabpanel",
      tabindex: t === current ? "0" : "-1", onclick: () => open(t) }, t)));
  const panel = h("div", { role: "tabpanel", id: "tabpanel", "aria-labelledby": `tab-${current.toLowerCase()}` });
  tab = current.toLowerCase();
  const latest = h("p", {}, `Version ${fn.latest_version}`);
  const note = status();
  const remove = ctx.roles.canEdit(fn.id) && confirmed("Delete function",
    `Delete ${fn.name} and all its versions? (Not while a source uses it.)`, async () => {
      await api("DELETE", path("functions", fn.id));
      drafts.delete(fn.id);
      ctx.go("#/functions");
    }, note);
  replace(ctx.main, h("h1", {}, fn.name), fn.description && h("p", {}, fn.description), latest,
    h("div", {}, remove, note), tabs, panel);
  if (focusTab) (tabs.querySelector("[aria-selected=true]") as HTMLElement).focus();
  focusTab = false;
  const saved = (number: number) => { latest.textContent = `Version ${number}`; };
  const page = { ctx, fn, version, panel, saved };
  if (tab === "settings") settingsTab(page);
  else if (tab === "test") testTab(page);
  else if (tab === "versions") await versionsTab(page);
  else if (tab === "errors") panel.append(errorsTable((await api("GET", path("functions", fn.id, "errors"))).errors));
  else codeTab(page);
}

// ``saved`` shows the number of a version just saved.
export type FunctionView = { ctx: Context; fn: Json; version: Json; panel: HTMLElement;
                             saved: (number: number) => void };

// The editor's text not yet saved, by function id: the Test tab runs it, and it survives a
// switch of tabs (not a reload: it is never stored).
export const drafts = new Map<string, string>();

function codeTab({ ctx, fn, version, panel, saved: shown }: FunctionView): void {
  const canEdit = ctx.roles.canEdit(fn.id);
  const holder = h("div", { class: "editor" });
  const problems = h("ul", { "aria-label": "Compile problems" });
  const note = status();
  panel.append(holder, problems);
  const editor = createEditor(holder, drafts.get(fn.id) ?? version.code, fn.name, !canEdit,
    (found: Problem[]) => replace(problems, found.map((p) => h("li", { class: "error" }, p.message))),
    (code: string) => { if (code === version.code) drafts.delete(fn.id); else drafts.set(fn.id, code); });
  ctx.onLeave(() => editor.destroy());
  if (!canEdit) return;
  const save = async (): Promise<Json> => {
    const saved = await api("PATCH", path("functions", fn.id), { code: editor.state.doc.toString() });
    drafts.delete(fn.id);
    shown(saved.version.number);
    note.show(saved.created ? `Saved version ${saved.version.number}.` : "No change to save.");
    return saved;
  };
  const deployBox = h("fieldset", { hidden: true });
  const buttons = h("div", {},
    h("button", { onclick: () => save().catch((e) => note.show(errorText(e), true)) }, "Save"),
    ctx.roles.canManageSources() && h("button", { onclick: () =>
      chooseSources(fn, deployBox, save, note).catch((e) => note.show(errorText(e), true)) }, "Save & Deploy"));
  panel.append(buttons, deployBox, note);
}

async function chooseSources(fn: Json, box: HTMLElement,
                             save: () => Promise<Json>, note: ReturnType<typeof status>): Promise<void> {
  const { sources } = await api("GET", "/sources");
  const boxes = sources.map((s: Json) => h("input", { type: "checkbox", value: s.id,
    checked: s.function === fn.id }) as HTMLInputElement);
  const fresh = h("input", { "aria-label": "Source name", placeholder: "new-source" }) as HTMLInputElement;
  const deploy = async () => {
    try {
      const saved = await save();
      const number = saved.version.number;
      const chosen = boxes.filter((b: HTMLInputElement) => b.checked).map((b: HTMLInputElement) => b.value);
      const { deployed } = await api("POST", path("functions", fn.id, "deploy"), { sources: chosen, version: number });
      const names = deployed.map((s: Json) => s.name);
      if (fresh.value.trim()) {
        const made = await api("POST", "/sources", { name: fresh.value.trim(), function: fn.id, version: number });
        names.push(made.name);
      }
      note.show(`Saved version ${number}; deployed to ${names.join(", ") || "no source"}.`);
      box.hidden = true;
      replace(box);
    } catch (error) { note.show(errorText(error), true); }
  };
  replace(box, h("legend", {}, "Deploy to sources"),
    sources.map((s: Json, i: number) => field(`${s.name} (v${s.version})`, boxes[i])),
    field("New source", fresh), h("button", { onclick: deploy }, "Deploy"));
  box.hidden = false;
}
