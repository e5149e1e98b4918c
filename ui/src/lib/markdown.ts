// A model's answer as Markdown, made safe to put in the page. Two layers: marked renders raw
// HTML in the answer as escaped text (shown, never parsed) and images as their alt text (no
// request leaves the app), then DOMPurify sanitises the result, so nothing that runs (a
// script, an event handler, a frame) and no link other than http(s) or mailto survives.
import DOMPurify from "dompurify";
import { Marked, type Tokens } from "marked";

const escapeHtml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const marked = new Marked({
  gfm: true,
  async: false,
  renderer: {
    html({ text }: Tokens.HTML | Tokens.Tag): string {
      return escapeHtml(text);
    },
    image({ text }: Tokens.Image): string {
      return escapeHtml(text);
    },
  },
});

/** Links that may stay: the web and mail. `javascript:`, `data:`, `file:` and the rest go. */
export const SAFE_LINK = /^(?:https?:|mailto:)/i;

const purify = DOMPurify();
purify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    const href = node.getAttribute("href") ?? "";
    if (!SAFE_LINK.test(href)) node.removeAttribute("href");
    // Opened by the app in the system browser (see OutputView), never inside the window.
    node.setAttribute("rel", "noopener noreferrer");
  }
});

const SANITIZE = {
  ALLOWED_URI_REGEXP: SAFE_LINK,
  FORBID_TAGS: ["img", "iframe", "frame", "object", "embed", "form", "input", "button", "style", "script", "svg", "math"],
  FORBID_ATTR: ["style", "target"],
  // Nodes ready to insert: no second parse of the HTML.
  RETURN_DOM_FRAGMENT: true as const,
};

/** The answer's Markdown as sanitised nodes. */
export function renderMarkdownNodes(text: string): DocumentFragment {
  return purify.sanitize(marked.parse(text) as string, SANITIZE);
}

/**
 * Splits a long answer, lazily, into pieces of about `size` characters (the first one
 * smaller, `first`, as it is rendered before the window can paint) that render alone as
 * they would together, so the first piece shows at once and the rest follow (see OutputView).
 * A cut goes only before a line that starts a new top-level block after a blank line,
 * outside a code fence: not inside a list, a quote, a table or an indented block, which
 * could continue across the blank line.
 */
export function* splitMarkdown(text: string, size = 16_384, first = 4_096): Generator<string> {
  let start = 0;
  let limit = first;
  let fence: string | null = null;
  let blank = false;
  for (let at = 0; at < text.length; ) {
    const end = text.indexOf("\n", at);
    const next = end < 0 ? text.length : end + 1;
    const line = text.slice(at, end < 0 ? text.length : end);
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === null && at - start >= limit && blank && !marker && /^(?:#{1,6} |[A-Za-z0-9*_[(`"'])/.test(line) && !/^(?:\d+[.)] |[*] )/.test(line)) {
      yield text.slice(start, at);
      start = at;
      limit = size;
    }
    // A fence closes with the character it opened with, at least as many times.
    if (marker) {
      if (fence === null) fence = marker;
      else if (marker[0] === fence[0] && marker.length >= fence.length) fence = null;
    }
    blank = line.trim() === "";
    at = next;
  }
  yield text.slice(start);
}
