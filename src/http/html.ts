/**
 * HTML output helpers for the few pages Herald renders itself (OAuth callback, Sandbox pages).
 * Every value written into a page goes through `escapeHtml` (text and attributes) or
 * `jsonForScript` (data inside a <script>).
 */

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

export function escapeHtml(value: unknown): string {
  return String(value ?? "").replace(/[&<>"'`]/g, (char) => HTML_ESCAPES[char] ?? char);
}

/**
 * JSON safe to place inside <script>: `<`, `>`, `&`, and the line separators that end a JS string
 * are written as \u escapes, so no value can close the script element or break out of it.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}
