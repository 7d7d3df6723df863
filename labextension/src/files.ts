/**
 * The output files section: each file's name, type, size, id and saved path; embedded images
 * shown from the trace's base64 (only image types on an allow list, only valid base64, set as
 * the `src` property of an <img>, never parsed as HTML); CSV previews as a small table, other
 * text previews as text; and the marker for images the trace did not embed.
 */
import { collapsible, el } from './dom';
import { formatBytes } from './format';
import { IFile } from './types';

const C = 'jp-PtcTrace';

/** Media types an embedded file may be shown as (an <img> never runs scripts, SVG included). */
export const IMAGE_TYPES = new Set([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/svg+xml'
]);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A data URI for an embedded image, or null when the file is not one we may show. */
export function imageSource(file: IFile): string | null {
  if (
    file.data === null ||
    !IMAGE_TYPES.has(file.mediaType) ||
    !BASE64.test(file.data)
  ) {
    return null;
  }
  return `data:${file.mediaType};base64,${file.data}`;
}

/** Rows of a CSV text (quotes and doubled quotes handled); empty lines dropped. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        cell += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') {
        i++;
      }
      row.push(cell);
      if (row.some(c => c !== '')) {
        rows.push(row);
      }
      row = [];
      cell = '';
    } else {
      cell += ch;
    }
  }
  row.push(cell);
  if (row.some(c => c !== '')) {
    rows.push(row);
  }
  return rows;
}

function previewTable(rows: string[][]): HTMLElement {
  const table = el('table', `${C}-filetable`);
  const head = table.appendChild(el('thead')).appendChild(el('tr'));
  for (const name of rows[0]) {
    head.appendChild(el('th', undefined, name));
  }
  const body = table.appendChild(el('tbody'));
  for (const row of rows.slice(1)) {
    const tr = body.appendChild(el('tr'));
    for (const value of row) {
      tr.appendChild(el('td', undefined, value));
    }
  }
  return table;
}

function isCsv(file: IFile): boolean {
  return (
    file.mediaType === 'text/csv' || file.name.toLowerCase().endsWith('.csv')
  );
}

function fileItem(file: IFile): HTMLElement {
  const item = el('div', `${C}-file`);
  const line = item.appendChild(el('div', `${C}-fileline`));
  line.appendChild(el('span', `${C}-filename`, file.name));
  const facts = [file.mediaType];
  if (file.sizeBytes !== null) {
    facts.push(formatBytes(file.sizeBytes));
  }
  if (file.fileId) {
    facts.push(file.fileId);
  }
  line.appendChild(el('span', `${C}-filemeta`, ` · ${facts.join(' · ')}`));
  if (file.path) {
    line.appendChild(el('span', `${C}-filepath`, ` · saved at ${file.path}`));
  }
  if (file.error) {
    line.appendChild(el('span', `${C}-fileerror`, ` · ${file.error}`));
  }
  const src = imageSource(file);
  if (src !== null) {
    const img = item.appendChild(el('img', `${C}-image`));
    img.alt = file.name;
    img.style.maxWidth = '100%'; // never wider than the output area, with or without the stylesheet
    img.src = src;
  } else if (file.preview) {
    const rows = isCsv(file) ? parseCsv(file.preview) : [];
    item.appendChild(
      rows.length > 1
        ? previewTable(rows)
        : collapsible(file.preview, `${C}-filepreview`, 600, 10)
    );
  }
  return item;
}

export function filesSection(
  files: IFile[],
  note: string | null
): HTMLElement | null {
  if (!files.length && !note) {
    return null;
  }
  const box = el('section', `${C}-section ${C}-filesection`);
  box.appendChild(el('h3', `${C}-heading`, `Files (${files.length})`));
  for (const file of files) {
    box.appendChild(fileItem(file));
  }
  if (note) {
    box.appendChild(el('div', `${C}-note ${C}-filesnote`, note));
  }
  return box;
}
