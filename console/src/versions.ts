// Versions: the list, a side-by-side diff of any two, and restore (as a new version).
import { api, type Json, path } from "./api";
import { diffLines } from "./diff";
import { errorText, field, h, replace, status } from "./dom";
import type { FunctionView } from "./functions";

export async function versionsTab({ ctx, fn, panel, saved: shown }: FunctionView): Promise<void> {
  const { versions: listed } = await api("GET", path("functions", fn.id, "versions"));
  const versions = [...listed].sort((a: Json, b: Json) => b.number - a.number);  // newest first
  const numbers = versions.map((v: Json) => String(v.number));
  const pick = (label: string, chosen: string) => {
    const select = h("select", { "aria-label": label }, numbers.map((n: string) => h("option", { value: n }, `v${n}`))) as HTMLSelectElement;
    select.value = chosen;
    return select;
  };
  const left = pick("From version", numbers[Math.min(1, numbers.length - 1)]);
  const right = pick("To version", numbers[0]);
  const view = h("div", { class: "diff", "aria-label": "Diff" });
  const note = status();
  const get = (n: string) => api("GET", path("functions", fn.id, "versions", n));
  const compare = async () => {
    const [a, b] = await Promise.all([get(left.value), get(right.value)]);
    const rows = diffLines(a.code.split("\n"), b.code.split("\n"));
    replace(view, rows.flatMap((r) => [
      h("div", { class: r.kind === "del" ? "del" : "" }, r.left ?? ""),
      h("div", { class: r.kind === "add" ? "add" : "" }, r.right ?? "")]));
  };
  const restore = async (n: string) => {
    try {
      const old = await get(n);
      const saved = await api("PATCH", path("functions", fn.id), { code: old.code, settings_schema: old.settings_schema });
      shown(saved.version.number);
      note.show(saved.created ? `Restored v${n} as version ${saved.version.number}.` : `v${n} is the latest already.`);
    } catch (error) { note.show(errorText(error), true); }
  };
  const canEdit = ctx.roles.canEdit(fn.id);
  const table = h("table", {}, h("tr", {}, h("th", {}, "Version"), h("th", {}, "Created"), h("th", {}, "Code SHA-256"), h("th", {})),
    versions.map((v: Json) => h("tr", {}, h("td", {}, `v${v.number}`), h("td", {}, v.created_at),
      h("td", {}, v.code_sha256.slice(0, 12)),
      h("td", {}, canEdit && h("button", { "aria-label": `Restore v${v.number}`, onclick: () => restore(String(v.number)) }, "Restore")))));
  left.onchange = right.onchange = () => void compare();
  replace(panel, table, note, h("h2", {}, "Compare"), field("From", left), field("To", right), view);
  await compare();
}
