/** The MIME extension: renders `application/vnd.ptc-jupyter.trace+json` outputs. */
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import { TraceRenderer } from './renderer';
import { MIME_TYPE } from './types';

export { MIME_TYPE } from './types';
export { TraceRenderer } from './renderer';

export const rendererFactory: IRenderMime.IRendererFactory = {
  // safe: renders in untrusted notebooks (cloned, CI-made); it never injects trace HTML
  safe: true,
  mimeTypes: [MIME_TYPE],
  defaultRank: 10,
  createRenderer: options => new TraceRenderer(options)
};

const extension: IRenderMime.IExtension = {
  id: 'ptc-jupyter:trace-renderer',
  description:
    'Renders saved PTC traces (application/vnd.ptc-jupyter.trace+json)',
  rendererFactory,
  // lower rank wins; text/html is 50, so the trace is preferred over the bundle's HTML
  rank: 10,
  dataType: 'json'
};

export default extension;
