// `--attack SPEC`: which fields an attacker changes in the hidden processes of a world.
//
//   SPEC := "none" | TERM ("," TERM)*
//   TERM := NAME           one attack the world defines (linux: comm, pid, tasks, ...)
//         | "random:" N    N fields drawn at random from the world's mutable fields
//
// Each world lists the attacks it knows (WorldPlugin.attacks); the parser only checks
// names against that list, so a world adds attacks without touching this file.
import { UsageError } from '../errors.js';
import type { Prng } from './prng.js';

export interface AttackSpec {
  /** The spec as given (normalised: trimmed, "" for none). */
  readonly text: string;
  /** Named attacks, in the order given. */
  readonly named: readonly string[];
  /** How many random fields to mutate per object (0 = none). */
  readonly random: number;
}

export const NO_ATTACK: AttackSpec = { text: '', named: [], random: 0 };

/**
 * Parse SPEC against the attacks a world knows. `randomFields` bounds random:N.
 * Errors are UsageErrors that quote the bad term and list what is allowed.
 */
export function parseAttackSpec(spec: string | undefined, os: string, known: Readonly<Record<string, string>>, randomFields: readonly string[]): AttackSpec {
  const text = (spec ?? '').trim();
  if (text === '' || text === 'none') return NO_ATTACK;
  const named: string[] = [];
  let random = 0;
  const list = Object.keys(known).join(', ');
  for (const raw of text.split(',')) {
    const term = raw.trim();
    if (term === '') throw new UsageError(`--attack ${JSON.stringify(text)}: empty term (terms are separated by single commas)`);
    const m = /^random:(.*)$/.exec(term);
    if (m) {
      if (random !== 0) throw new UsageError(`--attack ${JSON.stringify(text)}: random:N is given twice`);
      const n = Number(m[1]);
      if (!/^[0-9]+$/.test(m[1]!) || !Number.isSafeInteger(n) || n < 1) {
        throw new UsageError(`--attack ${JSON.stringify(text)}: ${JSON.stringify(term)} needs a positive whole number N`);
      }
      if (n > randomFields.length) {
        throw new UsageError(`--attack ${JSON.stringify(text)}: random:${n} asks for more fields than the ${randomFields.length} a ${os} world can mutate`);
      }
      random = n;
      continue;
    }
    if (!Object.hasOwn(known, term)) {
      throw new UsageError(`--attack ${JSON.stringify(text)}: unknown attack ${JSON.stringify(term)} for ${os} (known: ${list}, random:N)`);
    }
    if (named.includes(term)) throw new UsageError(`--attack ${JSON.stringify(text)}: ${JSON.stringify(term)} is given twice`);
    named.push(term);
  }
  return { text, named, random };
}

/** `n` distinct fields from `fields`, drawn with `rng`, excluding `exclude`. */
export function drawRandomFields(rng: Prng, fields: readonly string[], n: number, exclude: readonly string[] = []): string[] {
  const pool = fields.filter((f) => !exclude.includes(f));
  return rng.shuffle([...pool]).slice(0, Math.min(n, pool.length));
}
