// `kcarve eval --attack SPEC`: the rows of the evasion matrix. The attack names are the
// synthetic worlds' (src/synth/linux/attacks.ts, src/synth/windows/attacks.ts), so a
// row means the same on a synthetic world and on a real image.
//
//   SPEC := TERM ("," TERM)*
//   TERM := NAME                 one single-field attack: one row
//         | NAME ("+" NAME)+     several fields at once: one row
//         | "random:" N          N fields drawn at random from the world's mutable fields
//         | "all"                every single-field attack of the OS (its evasion matrix)
//
// A row "none" (no attack) always comes first: the reference the misses are read against.
import { UsageError } from '../errors.js';
import { parseAttackSpec, type AttackSpec } from '../synth/attack.js';
import { worldFor } from '../synth/synthesize.js';

export interface AttackRow {
  /** The row's name as the reader sees it ("none", "pid", "pool-tag+pid", "random:3"). */
  label: string;
  /** The attack in the synth's syntax (comma-separated). */
  spec: AttackSpec;
}

/**
 * The single-field evasion matrix of each OS. Linux: every attack the world knows.
 * Windows: issue 4's matrix, without the Linux-named aliases the world also accepts.
 */
export const EVASION_MATRIX: Readonly<Record<string, readonly string[]>> = {
  linux: ['comm', 'pid', 'tasks', 'start_time', 'flags'],
  windows: ['pool-tag', 'pool-index', 'dispatcher-type', 'dispatcher-size', 'create-time-zero', 'name-first-byte', 'pid-not-div4', 'active-links-zero'],
};

export const NONE_ROW: AttackRow = { label: 'none', spec: { text: '', named: [], random: 0 } };

/** Parse SPEC for images of `os`; UsageErrors name the bad term and the valid ones. */
export function parseAttackRows(text: string | undefined, os: string): AttackRow[] {
  if (text === undefined) return [NONE_ROW];
  const world = worldFor(os);
  const matrix = EVASION_MATRIX[os] ?? Object.keys(world.attacks);
  const aliases = Object.keys(world.attacks).filter((n) => !matrix.includes(n));
  const valid = `${matrix.join(', ')}${aliases.length > 0 ? ` (aliases: ${aliases.join(', ')})` : ''}, NAME+NAME, random:N, all`;
  const rows: AttackRow[] = [NONE_ROW];
  const add = (label: string, spec: AttackSpec): void => {
    if (!rows.some((r) => r.label === label)) rows.push({ label, spec });
  };
  const terms = text.split(',').map((t) => t.trim());
  if (terms.some((t) => t === '')) throw new UsageError(`--attack ${JSON.stringify(text)}: empty term (valid: ${valid})`);
  for (const term of terms) {
    if (term === 'all') {
      for (const n of matrix) add(n, parseAttackSpec(n, os, world.attacks, world.randomFields));
      continue;
    }
    const names = term.split('+');
    let spec: AttackSpec;
    try {
      spec = parseAttackSpec(names.join(','), os, world.attacks, world.randomFields);
    } catch (err) {
      if (err instanceof UsageError) throw new UsageError(`--attack ${JSON.stringify(text)}: ${JSON.stringify(term)} is not an attack on ${os} images (valid: ${valid})`);
      throw err;
    }
    if (spec.named.length + (spec.random > 0 ? 1 : 0) === 0) continue;
    add(term, spec);
  }
  return rows;
}
