// The code editor: CodeMirror 6 with Python, line numbers, and the compile check's problems
// marked at their line as one types (POST /api/v1/check, the check saving makes).
//
// The editor lives in a shadow root: there CodeMirror puts its styles in a constructed
// stylesheet, which the Content-Security-Policy (style-src 'self', no inline style) allows;
// in the document itself it would add a <style> element, which the policy blocks.
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { python } from "@codemirror/lang-python";
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { type Diagnostic, linter, lintGutter } from "@codemirror/lint";
import { EditorState } from "@codemirror/state";
import { EditorView, highlightActiveLine, keymap, lineNumbers } from "@codemirror/view";
import { api } from "./api";

const SIZE = EditorView.theme({
  "&": { minHeight: "300px", backgroundColor: "#fff" }, ".cm-scroller": { minHeight: "300px" },
});

export type Problem = { line: number | null; message: string };

export function createEditor(parent: HTMLElement, code: string, name: string, readOnly: boolean,
                             onProblems: (p: Problem[]) => void,
                             onChange: (code: string) => void): EditorView {
  const check = linter(async (view) => {
    const answer = await api("POST", "/check", { code: view.state.doc.toString(), name });
    onProblems(answer.problems);
    return answer.problems.map((p: Problem): Diagnostic => {
      const line = view.state.doc.line(Math.min(Math.max(p.line ?? 1, 1), view.state.doc.lines));
      return { from: line.from, to: line.to, severity: "error", message: p.message };
    });
  }, { delay: 400 });
  const root = parent.attachShadow({ mode: "open" });
  return new EditorView({
    root, parent: root,
    state: EditorState.create({
      doc: code,
      extensions: [
        lineNumbers(), history(), indentOnInput(), bracketMatching(), highlightActiveLine(),
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]), python(),
        syntaxHighlighting(defaultHighlightStyle),
        lintGutter(), check, EditorState.readOnly.of(readOnly),
        EditorView.contentAttributes.of({ "aria-label": "Code", "aria-readonly": String(readOnly) }), SIZE,
        EditorView.updateListener.of((update) => {
          if (update.docChanged) onChange(update.state.doc.toString());
        }),
      ],
    }),
  });
}
