// Building elements without HTML strings: text is always text, never markup.
type Child = Node | string | null | undefined | false;
type Props = Record<string, string | boolean | ((event: Event) => void) | undefined>;

export function h(tag: string, props: Props = {}, ...children: (Child | Child[])[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "value") (element as HTMLInputElement).value = String(value);
    else if (name === "checked") (element as HTMLInputElement).checked = Boolean(value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

export function replace(parent: Element, ...children: (Child | Child[])[]): void {
  parent.replaceChildren();
  for (const child of children.flat()) if (child) parent.append(child);
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A status line: the outcome of an action, announced to screen readers. */
export function status(): HTMLElement & { show: (text: string, bad?: boolean) => void } {
  const element = h("p", { role: "status" }) as HTMLElement & { show: (t: string, b?: boolean) => void };
  element.show = (text, bad = false) => {
    element.textContent = text;
    element.className = bad ? "error" : "notice";
  };
  return element;
}

export function field(label: string, control: HTMLElement): HTMLElement {
  return h("label", {}, label + " ", control);
}

/** A button that asks once more, in the page (no dialog), before it ``act``s. */
export function confirmed(label: string, question: string, act: () => Promise<void>,
                          note: ReturnType<typeof status>): HTMLElement {
  const ask = h("span", { hidden: true }, ` ${question} `,
    h("button", { onclick: async () => {
      try { await act(); } catch (error) { ask.hidden = true; note.show(errorText(error), true); }
    } }, `Yes, ${label.toLowerCase()}`),
    h("button", { onclick: () => { ask.hidden = true; } }, "Cancel"));
  return h("span", {}, h("button", { onclick: () => { ask.hidden = false; } }, label), ask);
}
