/**
 * The little of the DOM the renderer uses, for unit tests in node (no browser, no new
 * dependency): elements with children, text, classes, attributes, `dataset`, `style`, listeners,
 * table helpers and compound selectors (`.a`, `tag`, `tag.a.b`, matched anywhere below).
 * The browser tests (tests/test_browser_*.py) cover the real DOM.
 */

export class FakeNode {
  parentNode: FakeElement | FakeFragment | null = null;
  childNodes: FakeNode[] = [];

  get textContent(): string {
    return this.childNodes.map(c => c.textContent).join('');
  }

  set textContent(value: string) {
    this.replaceChildren(new FakeText(String(value)));
  }

  get lastChild(): FakeNode | null {
    return this.childNodes[this.childNodes.length - 1] ?? null;
  }

  appendChild<T extends FakeNode>(child: T): T {
    if (child instanceof FakeFragment) {
      for (const node of [...child.childNodes]) {
        this.appendChild(node);
      }
      return child;
    }
    const old = child.parentNode;
    if (old) {
      old.childNodes = old.childNodes.filter(c => c !== child);
    }
    child.parentNode = this as any;
    this.childNodes.push(child);
    return child;
  }

  replaceChildren(...nodes: FakeNode[]): void {
    for (const c of this.childNodes) {
      c.parentNode = null;
    }
    this.childNodes = [];
    nodes.forEach(n => this.appendChild(n));
  }
}

export class FakeText extends FakeNode {
  constructor(public data: string) {
    super();
  }

  get textContent(): string {
    return this.data;
  }

  set textContent(value: string) {
    this.data = String(value);
  }
}

export class FakeFragment extends FakeNode {}

export class FakeElement extends FakeNode {
  [property: string]: any;
  className = '';
  title = '';
  dataset: { [key: string]: string } = {};
  style: { [key: string]: string } = {};
  attributes = new Map<string, string>();
  listeners = new Map<string, ((event: unknown) => void)[]>();

  constructor(
    public tagName: string,
    public namespaceURI = 'http://www.w3.org/1999/xhtml'
  ) {
    super();
  }

  get children(): FakeElement[] {
    return this.childNodes.filter(
      (c): c is FakeElement => c instanceof FakeElement
    );
  }

  get childElementCount(): number {
    return this.children.length;
  }

  get classList() {
    return {
      add: (...names: string[]) => {
        const have = this.className.split(' ').filter(Boolean);
        this.className = [
          ...have,
          ...names.filter(n => !have.includes(n))
        ].join(' ');
      },
      contains: (name: string) => this.className.split(' ').includes(name)
    };
  }

  setAttribute(name: string, value: string): void {
    this.attributes.set(name, String(value));
  }

  getAttribute(name: string): string | null {
    return this.attributes.get(name) ?? null;
  }

  addEventListener(type: string, listener: (event: unknown) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  /** What a user's click, toggle or change would fire. */
  dispatch(type: string): void {
    for (const listener of this.listeners.get(type) ?? []) {
      listener({ type, target: this });
    }
  }

  createTHead(): FakeElement {
    return this.appendChild(new FakeElement('THEAD'));
  }

  createTBody(): FakeElement {
    return this.appendChild(new FakeElement('TBODY'));
  }

  insertRow(): FakeElement {
    return this.appendChild(new FakeElement('TR'));
  }

  matches(selector: string): boolean {
    const [tag, ...classes] = selector.split('.');
    return (
      (tag === '' || this.tagName.toLowerCase() === tag.toLowerCase()) &&
      classes.every(c => this.classList.contains(c))
    );
  }

  /** Every element below this one matching a compound selector (`tag.a.b`), in document order. */
  querySelectorAll(selector: string): FakeElement[] {
    const found: FakeElement[] = [];
    const walk = (node: FakeElement): void => {
      for (const child of node.children) {
        if (child.matches(selector)) {
          found.push(child);
        }
        walk(child);
      }
    };
    walk(this);
    return found;
  }

  querySelector(selector: string): FakeElement | null {
    return this.querySelectorAll(selector)[0] ?? null;
  }
}

export const fakeDocument = {
  createElement: (tag: string) => new FakeElement(tag.toUpperCase()),
  createElementNS: (ns: string, tag: string) => new FakeElement(tag, ns),
  createTextNode: (text: string) => new FakeText(text),
  createDocumentFragment: () => new FakeFragment()
};

/** Make `document` the fake one (the modules under test read the global when they build). */
export function installFakeDom(): void {
  (globalThis as any).document = fakeDocument;
}

/** A fresh element to render into. */
export function newRoot(): FakeElement {
  return new FakeElement('DIV');
}

/** A fake element typed as the DOM one the renderer expects. */
export function html(node: FakeElement): HTMLElement {
  return node as any;
}

/** The fake element behind a DOM-typed value the renderer returned. */
export function fake(node: unknown): FakeElement {
  if (!(node instanceof FakeElement)) {
    throw new Error(`not an element of the fake DOM: ${String(node)}`);
  }
  return node;
}
