/**
 * The notebooks the app has open, for "Copy as cell". A MIME renderer gets no DI tokens, so the
 * plugin (`plugin.ts`) hands the notebook tracker over here when JupyterLab activates it; the
 * renderer then finds the notebook and cell that hold its output.
 */
import type { INotebookTracker } from '@jupyterlab/notebook';

let tracker: INotebookTracker | null = null;

export function setNotebookTracker(value: INotebookTracker | null): void {
  tracker = value;
}

/**
 * A new code cell with `source` right below the cell whose output holds `node`; it becomes the
 * active cell. False when `node` is not in a notebook's cell (an output view, a console) or the
 * notebook cannot be changed.
 */
export function insertCellBelow(node: HTMLElement, source: string): boolean {
  let done = false;
  tracker?.forEach(panel => {
    const notebook = panel.content;
    if (
      done ||
      !notebook.node.contains(node) ||
      !notebook.model ||
      notebook.model.readOnly
    ) {
      return;
    }
    const index = notebook.widgets.findIndex(cell => cell.node.contains(node));
    if (index < 0) {
      return;
    }
    notebook.model.sharedModel.insertCell(index + 1, {
      cell_type: 'code',
      source,
      metadata: {}
    });
    notebook.activeCellIndex = index + 1;
    done = true;
  });
  return done;
}
