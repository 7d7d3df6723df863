/**
 * The only way this extension makes DOM: elements whose content is text nodes.
 *
 * The renderer is `safe` (it runs in untrusted notebooks), so trace content is never parsed
 * as HTML: no innerHTML, no insertAdjacentHTML, no attributes taken from the trace except
 * `title`, which the browser shows as plain text.
 */
import { clipMarker } from './format';

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: { [name: string]: string | number } = {}
): SVGElementTagNameMap[K] {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attrs)) {
    node.setAttribute(name, String(value));
  }
  return node;
}

/** A short preview of `text`, and whether the whole of it does not fit the preview. */
export function preview(
  text: string,
  maxChars: number,
  maxLines: number
): [string, boolean] {
  const lines = text.split('\n', maxLines + 1);
  let head = lines.slice(0, maxLines).join('\n');
  if (head.length > maxChars) {
    head = head.slice(0, maxChars);
  }
  return [head, head.length < text.length];
}

/**
 * Text shown in full when short; otherwise a <details> whose summary is a preview ending in the
 * clip marker and whose full text is only put in the DOM when opened (keeps 1,000-call traces light).
 */
export function collapsible(
  text: string,
  className: string,
  maxChars = 160,
  maxLines = 3
): HTMLElement {
  const [head, clipped] = preview(text, maxChars, maxLines);
  if (!clipped) {
    return el('pre', className, text);
  }
  const details = el('details', `${className} jp-PtcTrace-collapsed`);
  const summary = el('summary', undefined, head);
  summary.appendChild(
    el('span', 'jp-PtcTrace-more', clipMarker(text.length - head.length))
  );
  details.appendChild(summary);
  details.addEventListener('toggle', () => {
    if (details.open && details.childElementCount === 1) {
      details.appendChild(el('pre', 'jp-PtcTrace-full', text));
    }
  });
  return details;
}
