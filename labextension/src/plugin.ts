/**
 * The extension's one regular plugin: it only passes the notebook tracker to the renderer
 * (`notebooks.ts`), so "Copy as cell" can insert a cell below a saved trace. Optional: without
 * notebooks the button copies to the clipboard.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';

import { setNotebookTracker } from './notebooks';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'ptc-jupyter:copy-as-cell',
  description:
    "Lets a saved PTC trace put Claude's script into a new cell below it",
  autoStart: true,
  optional: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, tracker: INotebookTracker | null) => {
    setNotebookTracker(tracker);
  }
};

export default plugin;
