// @ts-check
/** Small DOM helpers for the UI layer. Text always goes in as text, never parsed as markup. */

/**
 * @param {string} tag
 * @param {string} className
 * @param {string} [text] set as text, never parsed as markup
 */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
