/**
 * Building the page's elements. Text always goes in as text (text nodes,
 * textContent, attribute values): nothing shown ever passes through an
 * HTML parser, so a machine name, service or OS full of markup stays text.
 * @module
 */

type Child = Node | string | null | undefined | false

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) e.setAttribute(name, value)
  append(e, ...children)
  return e
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue
    parent.appendChild(typeof c === 'string' ? document.createTextNode(c) : c)
  }
}

/** Sets an element's text only when it changed (cheap for 1,000 rows updated every second). */
export function setText(e: Element, text: string): void {
  if (e.textContent !== text) e.textContent = text
}

/** The page's own link to a machine (the name is a path segment, encoded). */
export function machineHref(name: string, host = ''): string {
  return `/machines/${encodeURIComponent(name)}${host === '' ? '' : `?host=${encodeURIComponent(host)}`}`
}
