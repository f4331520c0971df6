import { MeshbusError } from '@meshbus/runtime';
import type { FakeKubeObject } from './fake-kube-object.js';

/** Whether an object is selected. */
export type Selector = (object: FakeKubeObject) => boolean;

/** Thrown for a selector the fake cannot read; answered as 400 BadRequest. */
export class SelectorError extends MeshbusError {
  override readonly name = 'SelectorError';
  constructor(message: string) {
    super('InvalidSelector', message);
  }
}

/** Splits on commas outside parentheses: `a in (x,y),b` → [`a in (x,y)`, `b`]. */
function terms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of text) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      out.push(current);
      current = '';
    } else current += c;
  }
  out.push(current);
  return out.map((t) => t.trim()).filter(Boolean);
}

const KEY = '[A-Za-z0-9._/-]+';
const VALUE = '[A-Za-z0-9._-]*';

/** A label selector (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`), as `labelSelector` takes it. */
export function parseLabelSelector(text: string | undefined): Selector {
  if (!text) return () => true;
  const tests = terms(text).map((term): Selector => {
    const set = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^)]*)\\)$`).exec(term);
    if (set) {
      const [, key = '', op, list = ''] = set;
      const values = list.split(',').map((v) => v.trim()).filter(Boolean);
      if (values.some((v) => !new RegExp(`^${VALUE}$`).test(v))) throw new SelectorError(`invalid label selector ${JSON.stringify(term)}`);
      return op === 'in'
        ? (o) => values.includes(o.metadata.labels?.[key] ?? '\u0000')
        : (o) => !values.includes(o.metadata.labels?.[key] ?? '\u0000');
    }
    const m = new RegExp(`^(!?)(${KEY})\\s*(?:(==|=|!=)\\s*(${VALUE}))?$`).exec(term);
    if (!m) throw new SelectorError(`invalid label selector ${JSON.stringify(term)}`);
    const [, not, key = '', op, value = ''] = m;
    const read = (o: FakeKubeObject) => o.metadata.labels?.[key];
    if (op === undefined) return (o) => (read(o) !== undefined) !== (not === '!');
    if (not === '!') throw new SelectorError(`invalid label selector ${JSON.stringify(term)}`);
    return op === '!=' ? (o) => read(o) !== value : (o) => read(o) === value;
  });
  return (o) => tests.every((t) => t(o));
}

/** A field selector on `metadata.name` and `metadata.namespace` (`=`, `==`, `!=`), as `fieldSelector` takes it. */
export function parseFieldSelector(text: string | undefined): Selector {
  if (!text) return () => true;
  const tests = terms(text).map((term): Selector => {
    const m = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*(${VALUE})$`).exec(term);
    if (!m) throw new SelectorError(`invalid field selector ${JSON.stringify(term)}`);
    const [, key = '', op, value = ''] = m;
    let read: (o: FakeKubeObject) => string;
    if (key === 'metadata.name') read = (o) => o.metadata.name;
    else if (key === 'metadata.namespace') read = (o) => o.metadata.namespace ?? '';
    else throw new SelectorError(`field label not supported: ${key}`);
    return op === '!=' ? (o) => read(o) !== value : (o) => read(o) === value;
  });
  return (o) => tests.every((t) => t(o));
}
