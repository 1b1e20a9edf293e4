// Loading a scan's signature, keeping layouts per thread. A full kernel layout (BTF)
// takes seconds to build, so layouts come through the per-kernel subset cache
// (src/types/layout-cache.ts), a thread loads each layout file once (while the file is
// unchanged) and every scan in that thread — the main thread's, and a worker's across
// the scans of a reused pool — resolves signatures against the same Layout.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { LayoutError, SignatureError } from '../errors.js';
import type { SignatureDoc } from '../signatures/format.js';
import { resolveSignature, type Signature } from '../signatures/load.js';
import { validateSignatureShape } from '../signatures/schema.js';
import type { Layout } from '../types/layout.js';
import { loadLayoutCached } from '../types/layout-cache.js';
import { keep } from './kept.js';
import { timePhase } from '../timing.js';

const layouts = new Map<string, Layout>();

function cachedLayout(file: string): Layout {
  let stamp = '';
  try {
    const st = statSync(file);
    stamp = `${st.mtimeMs}:${st.size}`;
  } catch {
    // loadLayout reports the file it cannot read.
  }
  const key = `${file}\0${stamp}`;
  return layouts.get(key) ?? keep(layouts, key, loadLayoutCached(file), () => undefined);
}

/** The layout file a signature resolves against: `override`, else the one it names (as loadSignature). */
function layoutPath(doc: SignatureDoc, file: string, override: string | undefined): string {
  if (override !== undefined) return override;
  const named = (doc as { target?: { layout?: unknown } }).target?.layout;
  if (typeof named !== 'string') throw new SignatureError(file, '$.target.layout', 'names no layout; pass --layout FILE');
  return path.resolve(path.dirname(file), named);
}

/** Read a signature file's JSON (SignatureError when it cannot). */
export function readSignatureDoc(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SignatureError(file, '', `cannot read: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SignatureError(file, '', `not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Resolve a signature document with this thread's cached layout. `shapeChecked`: the
 * document was validated already (a worker resolving what its main thread loaded).
 */
export function scanSignature(doc: unknown, file: string, layout: string | undefined, shapeChecked: boolean): Signature {
  // The shape first, so a malformed document is reported as such, not as a missing layout.
  if (!shapeChecked) timePhase('validate the signature (schema)', () => validateSignatureShape(doc, file));
  let l: Layout;
  try {
    l = timePhase('load the layout', () => cachedLayout(layoutPath(doc as SignatureDoc, file, layout)));
  } catch (err) {
    if (err instanceof LayoutError && layout === undefined) throw new SignatureError(file, '$.target.layout', err.message);
    throw err;
  }
  return timePhase('resolve the signature against the layout', () => resolveSignature(doc, file, { layout: l, shapeChecked: true }));
}
