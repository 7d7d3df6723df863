/**
 * Python syntax highlighting with JupyterLab's own CodeMirror.
 *
 * MIME extensions get no DI tokens, so we make a language registry ourselves;
 * `@jupyterlab/codemirror` is a shared singleton at runtime, so this costs ~0 bytes and the
 * spans carry Lab's highlight classes, which follow the light and dark themes.
 * `highlight` builds text nodes and spans only.
 */
import { EditorLanguageRegistry } from '@jupyterlab/codemirror';

let registry: EditorLanguageRegistry | null = null;

function languages(): EditorLanguageRegistry {
  if (!registry) {
    registry = new EditorLanguageRegistry();
    for (const language of EditorLanguageRegistry.getDefaultLanguages()) {
      registry.addLanguage(language);
    }
  }
  return registry;
}

/** Fill `target` with highlighted `code`; plain text if highlighting is unavailable. */
export async function highlightPython(
  code: string,
  target: HTMLElement
): Promise<void> {
  const scratch = document.createElement('code');
  try {
    const reg = languages();
    await reg.highlight(code, reg.findBest('python'), scratch);
  } catch (reason) {
    console.warn('ptc-jupyter: no syntax highlighting', reason);
    target.textContent = code;
    return;
  }
  target.replaceChildren(...Array.from(scratch.childNodes));
  target.classList.add('jp-PtcTrace-highlighted');
}
