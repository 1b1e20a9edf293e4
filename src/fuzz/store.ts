// A campaign directory: campaign.json (settings, checked on resume, and the history of
// runs), plan.json (the members and which mutations apply), trials.jsonl (one trial record a line, appended as trials finish: a killed
// campaign loses at most the trials in flight), profile.json (the profiling pass) and
// robustness.json (the verdicts, rewritten at the end of every run).
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import type { MutationKind } from './mutations.js';
import type { TrialRecord } from './trial.js';
import type { TrialTiming } from './trial.js';

export interface CampaignSettings {
  schema: 'kcarve-fuzz-campaign/1';
  kernel_release: string;
  /** sha256 of the BTF blob the members come from. */
  layout_hash: string;
  seed: number;
  max_array_elements: number;
  mutations: MutationKind[];
  members: string[] | null;
  timing: TrialTiming;
}

export interface CampaignRun {
  command: string;
  started: string;
  finished: string | null;
  seconds: number;
  trials: number;
  guests: number;
}

export interface CampaignFile extends CampaignSettings {
  runs: CampaignRun[];
}

export class CampaignStore {
  readonly trialsPath: string;
  readonly campaignPath: string;
  readonly profilePath: string;
  readonly robustnessPath: string;
  readonly planPath: string;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.trialsPath = join(dir, 'trials.jsonl');
    this.campaignPath = join(dir, 'campaign.json');
    this.profilePath = join(dir, 'profile.json');
    this.robustnessPath = join(dir, 'robustness.json');
    this.planPath = join(dir, 'plan.json');
  }

  /** Settings of an earlier run in this directory, if any. */
  readCampaign(): CampaignFile | undefined {
    if (!existsSync(this.campaignPath)) return undefined;
    try {
      return JSON.parse(readFileSync(this.campaignPath, 'utf8')) as CampaignFile;
    } catch (err) {
      throw new UsageError(`${this.campaignPath}: unreadable (${(err as Error).message}); move it away to start over`);
    }
  }

  /**
   * Resume only what is the same experiment: same kernel, layout, seed and member
   * granularity. Mutations, member filters and the trial count may change between runs.
   */
  checkResume(prev: CampaignSettings, now: CampaignSettings): void {
    const same: [string, unknown, unknown][] = [
      ['kernel release', prev.kernel_release, now.kernel_release],
      ['layout hash', prev.layout_hash, now.layout_hash],
      ['--seed', prev.seed, now.seed],
      ['--max-array', prev.max_array_elements, now.max_array_elements],
    ];
    for (const [name, a, b] of same) {
      if (a !== b) throw new UsageError(`${this.dir} holds a campaign with ${name} ${String(a)}, this run has ${String(b)}: use another --out, or the same settings to resume`);
    }
  }

  writeCampaign(c: CampaignFile): void {
    writeFileSync(this.campaignPath, `${JSON.stringify(c, null, 2)}\n`);
  }

  /** Lines of trials.jsonl that were not records (a run killed mid-write), seen by readTrials. */
  torn = 0;

  /** All trial records so far. A line torn by a killed run is skipped and counted in `torn`. */
  readTrials(): TrialRecord[] {
    if (!existsSync(this.trialsPath)) return [];
    const text = readFileSync(this.trialsPath, 'utf8');
    // Appends must start on a fresh line, even after a torn write.
    if (text.length > 0 && !text.endsWith('\n')) appendFileSync(this.trialsPath, '\n');
    const out: TrialRecord[] = [];
    this.torn = 0;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const r = JSON.parse(line) as TrialRecord;
        if (typeof r.member === 'string' && typeof r.mutation === 'string' && typeof r.outcome === 'string') out.push(r);
        else this.torn++;
      } catch {
        this.torn++;
      }
    }
    return out;
  }

  appendTrial(r: TrialRecord): void {
    appendFileSync(this.trialsPath, `${JSON.stringify(r)}\n`);
  }
}
