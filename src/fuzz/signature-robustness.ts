// Which task_struct members a signature relies on, and what the fuzz campaign says about
// each (issue 8, first "Done when": "the shipped Linux signature uses only members it
// marks robust (or says which are not)").
//
// A member is "used" when the scanner reads it from the candidate object: a value
// constraint's field; an edge's `from` pointer (or, without `from`, the field its `read`
// takes from the candidate itself); an `expect: { field }` compared with the candidate's
// own field. What an edge reads *at the target* (another object) is not a member of the
// candidate. Members are matched to the campaign's by byte overlap in the layout, so a
// union alias or a struct that the campaign split into leaves still finds its verdicts.
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import type { ConstraintSpec, EdgeSpec } from '../signatures/format.js';
import type { Layout } from '../types/layout.js';
import type { Robustness } from './report.js';

export type Verdict = 'robust' | 'fragile' | 'unknown' | 'not fuzzed';

export interface MemberUse {
  member: string;
  /** `constraint #i (kind)` or `edge NAME (required|weighted)`. */
  uses: string[];
  /** A value constraint or a required edge uses it (a miss rejects the candidate); else it only scores. */
  required: boolean;
  /** The campaign members overlapping its bytes, with their verdicts. */
  campaign: { member: string; verdict: Robustness['members'][string]['verdict'] }[];
  /** robust only if every overlapping campaign member is robust; fragile if any is; 'not fuzzed' if none overlaps. */
  verdict: Verdict;
}

interface SignatureDoc {
  target: { type: string };
  constraints: ConstraintSpec[];
  edges: (EdgeSpec & { required?: boolean })[];
}

export function readSignatureMembersDoc(path: string): SignatureDoc {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as SignatureDoc;
  } catch (err) {
    throw new UsageError(`${path}: cannot read the signature: ${(err as Error).message}`);
  }
}

/** The candidate's members a signature reads, with how each is used. */
export function signatureMemberUses(sig: SignatureDoc): Map<string, { uses: string[]; required: boolean }> {
  const out = new Map<string, { uses: string[]; required: boolean }>();
  const add = (member: string, use: string, required: boolean) => {
    const m = out.get(member) ?? { uses: [], required: false };
    m.uses.push(use);
    m.required ||= required;
    out.set(member, m);
  };
  sig.constraints.forEach((c, i) => add(c.field, `constraint #${i} (${c.kind})`, true));
  for (const e of sig.edges) {
    const how = `edge ${e.name} (${e.required ? 'required' : 'weighted'})`;
    if (e.from !== undefined) add(e.from, how, e.required === true);
    else if (e.read !== undefined && 'field' in e.read && e.read.type === sig.target.type) add(e.read.field, how, e.required === true);
    for (const x of e.expect ?? []) if ('field' in x) add(x.field, how, e.required === true);
  }
  return out;
}

interface MemberSpan {
  offset: number;
  size: number;
  bits?: { position: number; length: number } | undefined;
}

/** Do two members share a byte (and, when both are bitfields, a bit)? */
export function membersOverlap(a: MemberSpan, b: MemberSpan): boolean {
  if (!(a.offset < b.offset + b.size && b.offset < a.offset + a.size)) return false;
  return !(a.bits && b.bits) || (a.bits.position < b.bits.position + b.bits.length && b.bits.position < a.bits.position + a.bits.length);
}

/** Each used member with the verdicts of the campaign members its bytes overlap. */
export function signatureRobustness(sig: SignatureDoc, rob: Robustness, layout: Layout): MemberUse[] {
  const type = sig.target.type;
  const members = Object.entries(rob.members);
  const out: MemberUse[] = [];
  for (const [member, use] of signatureMemberUses(sig)) {
    const r = layout.member(type, member);
    const campaign = members.filter(([, m]) => membersOverlap(m, r)).map(([name, m]) => ({ member: name, verdict: m.verdict }));
    const verdict: Verdict =
      campaign.length === 0 ? 'not fuzzed' : campaign.some((c) => c.verdict === 'fragile') ? 'fragile' : campaign.every((c) => c.verdict === 'robust') ? 'robust' : 'unknown';
    out.push({ member, ...use, campaign, verdict });
  }
  return out;
}
