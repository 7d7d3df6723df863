/**
 * The "Copy as cell" button of a Python step in a saved trace: the script as a kernel cell
 * (`cellsource.ts`, the same text `%ptc_script` gives) in a new code cell below the output's cell
 * (`notebooks.ts`), or, outside a notebook, on the clipboard. Needs no kernel.
 */
import { cellSource } from './cellsource';
import { el } from './dom';
import { insertCellBelow } from './notebooks';
import { stepCode } from './steps';
import { IStep } from './types';

const C = 'jp-PtcTrace';
const LABEL = 'Copy as cell';

/** Show `text` on the button for a moment (and `data-state` for tests and styles), then its label again. */
function flash(button: HTMLButtonElement, text: string, state: string): void {
  button.textContent = text;
  button.dataset.state = state;
  window.setTimeout(() => {
    button.textContent = LABEL;
    delete button.dataset.state;
  }, 2500);
}

/** The button of script `n` (1-based among `scripts`, the run's Python steps). */
export function copyCellButton(
  prompt: string,
  scripts: IStep[],
  n: number
): HTMLButtonElement {
  const button = el(
    'button',
    `jp-Button jp-mod-minimal jp-mod-styled ${C}-copycell`,
    LABEL
  );
  button.type = 'button';
  button.title = `Script ${n} as a new cell below: its tool calls run in the kernel (no model involved)`;
  button.addEventListener('click', () => {
    const source = cellSource(prompt, scripts.map(stepCode), n);
    if (insertCellBelow(button, source)) {
      flash(button, 'Inserted below', 'inserted');
      return;
    }
    const copied = navigator.clipboard?.writeText(source);
    if (!copied) {
      flash(button, 'Cannot copy here', 'failed');
      return;
    }
    copied.then(
      () => flash(button, 'Copied', 'copied'),
      () => flash(button, 'Cannot copy here', 'failed')
    );
  });
  return button;
}
