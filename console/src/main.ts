// The console's shell: sign-in, the navigation, and the hash routes of each page.
import { api, token } from "./api";
import { errorText, field, h, replace, status } from "./dom";
import { drafts, functionPage, functionsPage } from "./functions";
import { Roles } from "./roles";
import { sourcePage, sourcesPage } from "./sources";
import { tokensPage } from "./tokens";

// ``onLeave`` registers what to undo when the page is left (an editor to destroy).
export type Context = { roles: Roles; main: HTMLElement; go: (hash: string) => void;
                        onLeave: (undo: () => void) => void };

let leaving: (() => void)[] = [];

const main = document.getElementById("main") as HTMLElement;
const nav = document.getElementById("nav") as HTMLElement;

function leave(): void {
  for (const undo of leaving) undo();
  leaving = [];
}

function signIn(message = ""): void {
  window.onhashchange = null;
  leave();
  drafts.clear();  // the next token's user does not get this one's unsaved code
  replace(nav);
  const input = h("input", { type: "password", "aria-label": "Service token",
                             autocomplete: "off", size: "56" }) as HTMLInputElement;
  const note = status();
  if (message) note.show(message, true);
  const form = h("form", { onsubmit: async (event: Event) => {
    event.preventDefault();
    token.set(input.value.trim());
    try { await start(); } catch (error) { token.clear(); note.show(errorText(error), true); }
  } }, h("h1", {}, "Sign in"), h("p", {}, "Paste a service token (sfn_…)."),
    field("Service token", input),
    h("button", { type: "submit" }, "Sign in"), note);
  replace(main, form);
  input.focus();
}

async function start(): Promise<void> {
  const roles = Roles.of(await api("GET", "/whoami"));
  const links: [string, string][] = [["Functions", "#/functions"]];
  if (roles.canManageSources()) links.push(["Sources", "#/sources"]);
  if (roles.canManageTokens()) links.push(["Tokens", "#/tokens"]);
  const signOut = h("button", { onclick: () => { token.clear(); signIn(); location.hash = ""; } },
                    "Sign out");
  replace(nav, links.map(([name, href]) => h("a", { href }, name)), signOut);
  const context: Context = { roles, main, go: (hash) => { location.hash = hash; },
                             onLeave: (undo) => { leaving.push(undo); } };
  window.onhashchange = () => route(context);
  await route(context);
}

async function route(context: Context): Promise<void> {
  leave();
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  for (const link of nav.querySelectorAll("a")) {
    if (link.getAttribute("href") === `#/${parts[0] || "functions"}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  try {
    if (parts[0] === "sources" && parts[1]) await sourcePage(context, parts[1]);
    else if (parts[0] === "sources") await sourcesPage(context);
    else if (parts[0] === "tokens") await tokensPage(context);
    else if (parts[0] === "functions" && parts[1]) await functionPage(context, parts[1], parts[2] || "code");
    else await functionsPage(context);
  } catch (error) {
    if ((error as { status?: number }).status === 401) { token.clear(); signIn(errorText(error)); }
    else replace(main, h("p", { class: "error", role: "alert" }, errorText(error)));
  }
}

if (token.get()) start().catch((error) => signIn(errorText(error)));
else signIn();
