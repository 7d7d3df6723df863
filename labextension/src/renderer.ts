/**
 * `TraceRenderer`: the MIME renderer widget that shows a saved `%%ptc` trace (`view.ts`), with
 * Python highlighted by JupyterLab's CodeMirror (`highlight.ts`).
 */
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { highlightPython } from './highlight';
import { showTrace } from './view';

const C = 'jp-PtcTrace';

/**
 * The MIME renderer widget. `data-render-ms` on its node is how long the last render took
 * (DOM build and highlighting, measured with performance.now()); the browser tests read it.
 */
export class TraceRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this._mimeType = options.mimeType;
    this.addClass(C);
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const t0 = performance.now();
    const root = this.node;
    await showTrace(root, model.data[this._mimeType], highlightPython, () => {
      root.dataset.buildMs = (performance.now() - t0).toFixed(1);
    });
    root.dataset.renderMs = (performance.now() - t0).toFixed(1);
  }

  private _mimeType: string;
}
