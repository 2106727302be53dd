// Tokens, for workspace owners: create (the secret shown once), list, revoke.
import { api, type Json, path } from "./api";
import { errorText, field, h, replace, status } from "./dom";
import type { Context } from "./main";

const ROLES = ["workspace_owner", "functions_admin", "functions_read", "source_admin"];
// The roles a grant may narrow to some functions (runner/service/access.py).
const SCOPED = ["functions_admin", "functions_read"];

export async function tokensPage(ctx: Context, secret?: string): Promise<void> {
  const { tokens } = await api("GET", "/tokens");
  const name = h("input", { "aria-label": "Token name" }) as HTMLInputElement;
  const role = h("select", { "aria-label": "Role" }, ROLES.map((r) => h("option", { value: r }, r))) as HTMLSelectElement;
  const scope = h("input", { "aria-label": "Token functions", placeholder: "all" }) as HTMLInputElement;
  const note = status();
  const form = h("form", { onsubmit: async (event: Event) => {
    event.preventDefault();
    try {
      const functions = scope.value.split(",").map((f) => f.trim()).filter((f) => f);
      const grant = functions.length && SCOPED.includes(role.value) ? { role: role.value, functions } : { role: role.value };
      const created = await api("POST", "/tokens", { name: name.value, roles: [grant] });
      await tokensPage(ctx, created.secret);
    } catch (error) { note.show(errorText(error), true); }
  } }, field("Token name", name), field("Role", role),
    field("Functions (comma-separated, for the functions roles; empty: all)", scope),
    h("button", { type: "submit" }, "Create token"), note);
  const revoke = (t: Json) => h("button", { "aria-label": `Revoke ${t.name}`, onclick: async () => {
    try { await api("DELETE", path("tokens", t.id)); await tokensPage(ctx); } catch (error) { note.show(errorText(error), true); }
  } }, "Revoke");
  replace(ctx.main, h("h1", {}, "Tokens"), form,
    secret && h("p", { role: "alert" }, "The new token's secret, shown this once: ",
      h("code", { class: "secret", "aria-label": "New token secret" }, secret)),
    h("table", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Roles"), h("th", {}, "Created"), h("th", {}, "Last used"), h("th", {})),
      tokens.map((t: Json) => h("tr", {}, h("td", {}, t.name),
        h("td", {}, t.roles.map((g: Json) => g.role + (g.functions ? ` (${g.functions.length} functions)` : "")).join(", ")),
        h("td", {}, t.created_at), h("td", {}, t.last_used_at ?? "never"),
        h("td", {}, t.revoked_at ? `revoked ${t.revoked_at}` : revoke(t))))));
}
