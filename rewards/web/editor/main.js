// The console's rules editor: turns the draft's <textarea data-editor="yaml"> into a CodeMirror 6 editor with line
// numbers, YAML highlighting and the server's validation problems as lint markers at their lines. Without this
// script the page is a plain form; with it, the textarea stays in the form (hidden) and gets the text on submit.
//
// Bundled into ../static/editor.js by `make editor` (esbuild); the bundle is committed, so neither the service
// nor CI needs npm.
import { basicSetup } from "codemirror";
import { EditorState } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { yaml } from "@codemirror/lang-yaml";
import { lintGutter, setDiagnostics } from "@codemirror/lint";

function jsonOf(text, fallback) {
  try {
    return text ? JSON.parse(text) : fallback;
  } catch {
    return fallback;
  }
}

// The problems come from the list the server rendered above the editor: <li data-line="12">...<span
// class="reason">...</span></li>, so the markers say exactly what the list says.
function problemsIn(list) {
  if (!list) return [];
  return Array.from(list.querySelectorAll("li[data-line]"), (item) => ({
    line: Number(item.dataset.line),
    message: (item.querySelector(".reason") || item).textContent.trim(),
  })).filter((problem) => Number.isInteger(problem.line) && problem.line > 0);
}

function diagnosticsFor(doc, problems) {
  return problems
    .filter((problem) => problem.line <= doc.lines)
    .map((problem) => {
      const line = doc.line(problem.line);
      return { from: line.from, to: line.to, severity: "error", message: problem.message };
    });
}

function goToLine(view, number, focus) {
  const line = view.state.doc.line(Math.min(Math.max(number, 1), view.state.doc.lines));
  view.dispatch({
    selection: { anchor: line.from, head: line.to },
    effects: EditorView.scrollIntoView(line.from, { y: "center" }),
  });
  if (focus) view.focus();
}

// Typing over a selection that spans several highlighted tokens makes Chrome keep their look as a style attribute
// on the typed text, which the page's Content-Security-Policy refuses (and reports). So that case is done here, as
// a change of the editor's state; other typing, composition (IME) and deletion stay the browser's.
function typeOverSelection(event, view) {
  if (event.inputType !== "insertText" || !event.data || view.composing || view.state.selection.main.empty) {
    return false;
  }
  event.preventDefault();
  view.dispatch(view.state.replaceSelection(event.data), { userEvent: "input.type", scrollIntoView: true });
  return true;
}

function start() {
  const textarea = document.querySelector('textarea[data-editor="yaml"]');
  if (!textarea || !textarea.form) return;
  const label = document.querySelector(`label[for="${textarea.id}"]`);
  const list = document.getElementById("problem-list");
  const problems = problemsIn(list);

  const extensions = [
    basicSetup,
    yaml(),
    lintGutter(),
    EditorState.tabSize.of(2),
    // The editor's own words (search, folding, lint) in the page's language, from the message catalog.
    EditorState.phrases.of(jsonOf(textarea.dataset.phrases, {})),
    // The page's Content-Security-Policy admits <style> elements with this response's nonce only.
    EditorView.cspNonce.of(textarea.dataset.styleNonce || ""),
    // Set as attributes of the editor, not on its element: CodeMirror rewrites its element's class on updates.
    EditorView.editorAttributes.of({ class: "rules-editor", "data-testid": "rules-editor" }),
    EditorView.contentAttributes.of({ spellcheck: "false", autocapitalize: "off", autocorrect: "off" }),
    EditorView.domEventHandlers({ beforeinput: typeOverSelection }),
  ];
  if (label) {
    if (!label.id) label.id = `${textarea.id}-label`;
    extensions.push(EditorView.contentAttributes.of({ "aria-labelledby": label.id }));
  }
  const view = new EditorView({ doc: textarea.value, extensions });
  textarea.insertAdjacentElement("afterend", view.dom);
  textarea.hidden = true;
  if (label) {
    // The label names the editor now; a click on it goes there too.
    label.removeAttribute("for");
    label.addEventListener("click", () => view.focus());
  }
  textarea.form.addEventListener("submit", () => {
    textarea.value = view.state.doc.toString();
  });

  if (problems.length === 0) return;
  view.dispatch(setDiagnostics(view.state, diagnosticsFor(view.state.doc, problems)));
  if (list) {
    list.addEventListener("click", (event) => {
      const link = event.target.closest('a[href^="#line-"]');
      const item = link && link.closest("li[data-line]");
      if (!item) return;
      event.preventDefault();
      view.dom.scrollIntoView({ block: "nearest" });
      goToLine(view, Number(item.dataset.line), true);
    });
  }
  // The page opens at the problems, the editor at the first one (not focused: a phone would open its keyboard).
  const section = document.getElementById("problems");
  if (section) section.scrollIntoView({ block: "start" });
  goToLine(view, problems[0].line, false);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
