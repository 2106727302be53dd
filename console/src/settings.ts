// Settings: add, edit and remove the settings schema; the derived name is shown live.
import { api, type Json, path } from "./api";
import { errorText, field, h, replace, status } from "./dom";
import type { FunctionView } from "./functions";

const TYPES = ["string", "text", "boolean", "number", "array", "text_map"];

/** The name the service derives from a label (runner/service/settings_schema.camel_case). */
export function camelCase(label: string): string {
  const ascii = label.normalize("NFKD").replace(/[^\x00-\x7f]/g, "");
  const spaced = ascii.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2");
  const words = (spaced.match(/[A-Za-z0-9]+/g) ?? []).map((w) => w.toLowerCase());
  if (!words.length) return "";
  const name = words[0] + words.slice(1).map((w) => w[0].toUpperCase() + w.slice(1)).join("");
  return /^[0-9]/.test(name) ? "setting" + name : name;
}

export function settingsTab({ ctx, fn, version, panel, saved: shown }: FunctionView): void {
  const canEdit = ctx.roles.canEdit(fn.id);
  const rows = h("div", {});
  const note = status();
  const add = (spec: Json) => {
    const label = h("input", { "aria-label": "Label", value: spec.label ?? "", disabled: !canEdit }) as HTMLInputElement;
    const name = h("output", { "aria-label": "Derived name" });
    const show = () => { name.textContent = camelCase(label.value); };
    label.addEventListener("input", show);
    show();
    const type = h("select", { "aria-label": "Type", disabled: !canEdit },
      TYPES.map((t) => h("option", { value: t }, t))) as HTMLSelectElement;
    type.value = spec.type ?? "string";
    const description = h("input", { "aria-label": "Description", value: spec.description ?? "", disabled: !canEdit }) as HTMLInputElement;
    const required = h("input", { type: "checkbox", checked: !!spec.required, disabled: !canEdit }) as HTMLInputElement;
    const encrypted = h("input", { type: "checkbox", checked: !!spec.encrypted, disabled: !canEdit }) as HTMLInputElement;
    const row = h("fieldset", { class: "setting" }, field("Label", label), h("span", {}, "name: ", name),
      field("Type", type), field("Description", description), field("Required", required),
      field("Encrypted", encrypted),
      canEdit && h("button", { onclick: () => row.remove() }, "Remove"));
    (row as HTMLElement & { spec: () => Json }).spec = () => ({ label: label.value, type: type.value,
      description: description.value, required: required.checked, encrypted: encrypted.checked });
    rows.append(row);
  };
  version.settings_schema.forEach(add);
  const save = async () => {
    const schema = [...rows.children].map((r) => (r as HTMLElement & { spec: () => Json }).spec());
    try {
      const saved = await api("PATCH", path("functions", fn.id), { settings_schema: schema });
      shown(saved.version.number);
      note.show(saved.created ? `Saved version ${saved.version.number}.` : "No change to save.");
    } catch (error) { note.show(errorText(error), true); }
  };
  replace(panel, rows, version.settings_schema.length || canEdit ? null : h("p", {}, "No settings."),
    canEdit && h("button", { onclick: () => add({}) }, "Add setting"),
    canEdit && h("button", { onclick: save }, "Save"), note);
}
