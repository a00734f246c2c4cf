/**
 * `dirtyscope lab confirm [FINDING]`: each finding the catalogue reports for today's kernel,
 * replayed on a real kernel in the guest, with the model's verdict beside it.
 *
 * A finding is a set of experiments (operation sequences on the lab's test devices, see
 * lab/PROTOCOL.md) with a judgement over the replies: `finding` must show the loss, `control`
 * (the same without the ingredient the finding needs) must not, `fix` runs a proposed fix. The
 * deterministic findings (Q1, Q4, Q10) are also run on the model backend: the model must judge
 * them the same way. Race findings (the mkwrite window, Q3) are run `attempts` times on the
 * guest with the window held open by our own test driver (fair fault injection), and the model
 * side is the model checker's verdict on the catalogue model.
 */
import { check } from '../checker/check.ts';
import { MODELS } from '../models/catalogue.ts';
import { ModelLab } from './model-backend.ts';
import { hexToBits, type LabOp, type LabReply } from './protocol.ts';

export type ExperimentRole = 'finding' | 'control' | 'fix' | 'fix-two-mappings';

export interface Judgement {
  /** The loss the finding describes happened. */
  hit: boolean;
  evidence: string[];
}

export interface Experiment {
  name: string;
  role: ExperimentRole;
  ops: LabOp[];
  judge(r: LabReply[], ops: LabOp[]): Judgement;
  /** Repeat on the guest (races); deterministic experiments run once. */
  attempts: number;
  /** Also judge the model backend's replies (deterministic experiments only). */
  onModel: boolean;
  /** Race experiments: the catalogue model + variant whose checker verdict predicts this one (fail = loss). */
  model?: { name: string; variant: string };
  /** As `model`, chosen by the kernel's version (the code the kernel has). */
  modelFor?: (major: number, minor: number) => { name: string; variant: string };
}

export interface FindingDef {
  name: string;
  title: string;
  spec: string;
  /** Catalogue model + variant whose `fail` this finding is. */
  model: { name: string; variant: string };
  needs: { minVersion?: [number, number]; smp?: number; fb?: boolean; wrprotect?: boolean };
  experiments: Experiment[];
  /** What a reproduction shows, in one sentence. */
  claim: string;
}

const find = (ops: LabOp[], r: LabReply[], pred: (o: LabOp) => boolean, nth = 0): LabReply | undefined => {
  let n = 0;
  for (let i = 0; i < ops.length; i++)
    if (pred(ops[i]!)) {
      if (n === nth) return r[i];
      n++;
    }
  return undefined;
};
const byName = (name: string) => (o: LabOp) => 'op' in o && o.op === name;
const pteBits = (r: LabReply | undefined): number =>
  r?.kv.pte === undefined || r.kv.pte === 'none' ? -1 : Number.parseInt(r.kv.pte.slice(-3), 16);
const line = (label: string, r: LabReply | undefined): string =>
  `${label}: ret=${r?.ret ?? '?'} ${Object.entries(r?.kv ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')}`;

function q1(withRo: boolean): LabOp[] {
  const ops: LabOp[] = [{ op: 'reset' }, { op: 'spawn', p: 0 }, { op: 'spawn', p: 1 }];
  if (withRo) ops.push({ op: 'mmap', p: 0, m: 0, d: 'pfn', off: 0, n: 4, share: 's', prot: 'r', fd: 'ro' });
  ops.push(
    { op: 'mmap', p: 1, m: 0, d: 'pfn', off: 0, n: 4, share: 's', prot: 'rw', fd: 'rw' },
    { op: 'store', p: 1, m: 0, page: 1, v: 0x11 },
    { op: 'wp', d: 'pfn', first: 0, nr: 4 },
    { op: 'pte', p: 1, m: 0, page: 1 },
    { op: 'store', p: 1, m: 0, page: 1, v: 0x12 },
  );
  return ops;
}

function judgeQ1(r: LabReply[], ops: LabOp[]): Judgement {
  const wp = find(ops, r, byName('wp'));
  const pte = find(ops, r, byName('pte'));
  const st2 = find(ops, r, byName('store'), 1);
  const writable = pteBits(pte) >= 0 && (pteBits(pte) & 2) !== 0;
  return {
    hit: writable && st2?.kv.mk === '0',
    evidence: [
      line('wp_shared_mapping_range(0, 4)', wp),
      line('PTE of page 1 in the writable mapping after wp', pte),
      line('second store to page 1', st2),
    ],
  };
}

function q4(): LabOp[] {
  return [
    { op: 'reset' },
    { op: 'spawn', p: 0 },
    { op: 'mmap', p: 0, m: 0, d: 'pfn', off: 0, n: 4, share: 's', prot: 'rw', fd: 'rw' },
    { op: 'store', p: 0, m: 0, page: 0, v: 1 },
    { op: 'scan', d: 'pfn', first: 0, nr: 4, mode: 'consume' },
    { op: 'pte', p: 0, m: 0, page: 0 },
    { op: 'mprotect', p: 0, m: 0, off: 0, n: 4, prot: 'r' },
    { op: 'mprotect', p: 0, m: 0, off: 0, n: 4, prot: 'rw' },
    { op: 'pte', p: 0, m: 0, page: 0 },
    { op: 'store', p: 0, m: 0, page: 0, v: 2 },
    { op: 'scan', d: 'pfn', first: 0, nr: 4, mode: 'consume' },
    { op: 'verify', d: 'pfn' },
  ];
}

function q4Control(): LabOp[] {
  // No mprotect round trip: the second store must fault into pfn_mkwrite and be consumed.
  return q4().filter((o) => o.op !== 'mprotect');
}

function judgeStale(page: number) {
  return (r: LabReply[], ops: LabOp[]): Judgement => {
    const v = find(ops, r, byName('verify'));
    const stale = v?.kv.stale === undefined ? [] : hexToBits(v.kv.stale);
    const ev: string[] = [];
    ops.forEach((o, i) => {
      if (o.op === 'store' || o.op === 'scan' || o.op === 'pte' || o.op === 'race' || o.op === 'verify')
        ev.push(line(`${o.op}${'page' in o ? ` page ${o.page}` : ''}${'p' in o ? ` (p${o.p})` : ''}`, r[i]));
    });
    return { hit: stale.includes(page), evidence: ev };
  };
}

function q10(withMunmap: boolean): LabOp[] {
  const ops: LabOp[] = [
    { op: 'reset' },
    { op: 'spawn', p: 0 },
    { op: 'mmap', p: 0, m: 0, d: 'pfn', off: 0, n: 4, share: 's', prot: 'rw', fd: 'rw' },
    { op: 'store', p: 0, m: 0, page: 0, v: 1 },
    { op: 'clean', d: 'pfn', first: 0, nr: 4, bpgoff: 0, start: 64, end: 0 },
    { op: 'bits', d: 'pfn', clear: true },
    { op: 'store', p: 0, m: 0, page: 0, v: 2 },
    { op: 'pte', p: 0, m: 0, page: 0 },
  ];
  if (withMunmap) ops.push({ op: 'munmap', p: 0, m: 0, off: 0, n: 4 });
  ops.push({ op: 'clean', d: 'pfn', first: 0, nr: 4, bpgoff: 0, start: 64, end: 0 });
  return ops;
}

function judgeQ10(r: LabReply[], ops: LabOp[]): Judgement {
  const st2 = find(ops, r, byName('store'), 1);
  const pte = find(ops, r, byName('pte'));
  const c2 = find(ops, r, byName('clean'), 1);
  const recorded = c2?.kv.cbits !== undefined && hexToBits(c2.kv.cbits).includes(0);
  return {
    hit: st2?.ret === 0 && !recorded,
    evidence: [
      line('second store to page 0 (after the first clean round)', st2),
      line('PTE of page 0 before munmap', pte),
      line('clean_record_shared_mapping_range after munmap', c2),
    ],
  };
}

/** The mkwrite-window race: `mode` scans, `twoMappings` makes another mapping's PTE writable first. */
function mkwriteRace(mode: 'consume' | 'fix', twoMappings: boolean, us: number): LabOp[] {
  const ops: LabOp[] = [
    { op: 'reset' },
    { op: 'spawn', p: 0 },
    { op: 'mmap', p: 0, m: 0, d: 'pfn', off: 0, n: 4, share: 's', prot: 'rw', fd: 'rw' },
    { op: 'load', p: 0, m: 0, page: 0 },
  ];
  if (twoMappings)
    ops.push(
      { op: 'spawn', p: 1 },
      { op: 'mmap', p: 1, m: 0, d: 'pfn', off: 0, n: 4, share: 's', prot: 'rw', fd: 'rw' },
      { op: 'store', p: 1, m: 0, page: 0, v: 0x33 },
      { op: 'scan', d: 'pfn', first: 0, nr: 4, mode },
      { op: 'store', p: 1, m: 0, page: 0, v: 0x34 },
    );
  else ops.push({ op: 'scan', d: 'pfn', first: 0, nr: 4, mode });
  ops.push(
    { op: 'race', p: 0, m: 0, page: 0, v: 0x5a, d: 'pfn', first: 0, nr: 4, mode, us },
    { op: 'pte', p: 0, m: 0, page: 0 },
    { op: 'scan', d: 'pfn', first: 0, nr: 4, mode },
    { op: 'scan', d: 'pfn', first: 0, nr: 4, mode },
    { op: 'verify', d: 'pfn' },
  );
  return ops;
}

export const RACE_DELAY_US = 200_000;

/** Q3: lab/agent/fbtest.c does the whole experiment in the guest and prints key=value words. */
function judgeFbtest(r: LabReply[]): Judgement {
  const x = r.at(-1);
  return { hit: x?.kv.q3 === 'reproduced', evidence: [line('fbtest', x)] };
}

export const FINDINGS: FindingDef[] = [
  {
    name: 'q1',
    title: 'Q1: a read-only MAP_SHARED mapping first in i_mmap ends the walk',
    spec: 'spec §11.3 Q1, §2',
    model: { name: 'ro-shared-first', variant: 'mainline' },
    needs: {},
    claim:
      'wp_shared_mapping_range returns with a writable shared PTE left writable, and a later store goes through with no fault and no mkwrite',
    experiments: [
      {
        name: 'ro-fd mapping first',
        role: 'finding',
        ops: q1(true),
        judge: judgeQ1,
        attempts: 1,
        onModel: true,
      },
      {
        name: 'no ro-fd mapping',
        role: 'control',
        ops: q1(false),
        judge: judgeQ1,
        attempts: 1,
        onModel: true,
      },
    ],
  },
  {
    name: 'q4',
    title: 'Q4: mprotect(READ) then mprotect(READ|WRITE) upgrades a read-only dirty PTE without mkwrite',
    spec: 'spec §11.3 Q4, §7.4',
    model: { name: 'mprotect-bypass', variant: 'mainline' },
    needs: {},
    claim:
      'after a MKWRITE scan, an mprotect round trip makes the PTE writable; the next write is never recorded',
    experiments: [
      {
        name: 'mprotect round trip',
        role: 'finding',
        ops: q4(),
        judge: judgeStale(0),
        attempts: 1,
        onModel: true,
      },
      {
        name: 'no mprotect',
        role: 'control',
        ops: q4Control(),
        judge: judgeStale(0),
        attempts: 1,
        onModel: true,
      },
    ],
  },
  {
    name: 'q10',
    title: 'Q10: munmap of a dirty PFN PTE in PAGETABLE tracking loses the write',
    spec: 'spec §11.3 Q10',
    model: { name: 'munmap-pagetable', variant: 'mainline' },
    needs: {},
    claim:
      'a write recorded only in the hardware dirty bit disappears with munmap; no clean_record round sees it',
    experiments: [
      {
        name: 'munmap before the scan',
        role: 'finding',
        ops: q10(true),
        judge: judgeQ10,
        attempts: 1,
        onModel: true,
      },
      { name: 'no munmap', role: 'control', ops: q10(false), judge: judgeQ10, attempts: 1, onModel: true },
    ],
  },
  {
    name: 'mkwrite-window',
    title:
      'The mkwrite window: pfn_mkwrite records the page before finish_mkwrite_fault makes the PTE writable',
    spec: 'models mkwrite-window, vmwgfx-mkwrite; spec §7.2, §4.4',
    model: { name: 'mkwrite-window', variant: 'mainline' },
    needs: { smp: 2 },
    claim:
      'a scan that runs between pfn_mkwrite and the PTE update consumes the bit; the write then lands untracked and never reaches the device copy',
    experiments: [
      {
        name: 'scan consumes during the window',
        role: 'finding',
        ops: mkwriteRace('consume', false, RACE_DELAY_US),
        judge: judgeStale(0),
        attempts: 3,
        onModel: false,
        model: { name: 'mkwrite-window', variant: 'mainline' },
      },
      {
        name: 'no delay (window closed in practice)',
        role: 'control',
        ops: mkwriteRace('consume', false, 0),
        judge: judgeStale(0),
        attempts: 3,
        onModel: false,
      },
      {
        name: 'driver fix: clear a bit only if wp of that page found it writable',
        role: 'fix',
        ops: mkwriteRace('fix', false, RACE_DELAY_US),
        judge: judgeStale(0),
        attempts: 3,
        onModel: false,
        model: { name: 'mkwrite-window', variant: 'scan-fix' },
      },
      {
        name: 'driver fix with a second, writable mapping of the page',
        role: 'fix-two-mappings',
        ops: mkwriteRace('fix', true, RACE_DELAY_US),
        judge: judgeStale(0),
        attempts: 3,
        onModel: false,
        model: { name: 'mkwrite-window-two-mappings', variant: 'scan-fix' },
      },
    ],
  },
  {
    name: 'q3',
    title: "Q3: fb_defio's worker runs between page_mkwrite and the PTE update (no page lock since Feb 2025)",
    spec: 'spec §11.3 Q3, §5.3',
    model: { name: 'fb-defio', variant: 'mainline' },
    needs: { fb: true },
    claim:
      'the deferred work write-protects a page whose PTE is not writable yet, hands the old content to the display and dequeues it; the write then lands and never reaches the screen',
    experiments: [
      {
        name: 'page_mkwrite held open past the deferred delay',
        role: 'finding',
        ops: [{ op: 'reset' }, { op: 'run', prog: 'fbtest', args: 'armed,10' }],
        judge: judgeFbtest,
        attempts: 1, // fbtest repeats the experiment itself (10 runs)
        onModel: false,
        // Before 6.15 the deferred work still took the page lock (the model's `page-lock` variant).
        modelFor: (major, minor) => ({
          name: 'fb-defio',
          variant: major > 6 || (major === 6 && minor >= 15) ? 'mainline' : 'page-lock',
        }),
      },
      {
        name: 'no delay',
        role: 'control',
        ops: [{ op: 'reset' }, { op: 'run', prog: 'fbtest', args: 'control,10' }],
        judge: judgeFbtest,
        attempts: 1,
        onModel: false,
      },
    ],
  },
];

export interface ExperimentResult {
  name: string;
  role: ExperimentRole;
  /** Guest: attempts that showed the loss, of attempts. */
  hits: number;
  attempts: number;
  evidence: string[];
  /** Model backend's judgement (deterministic experiments), or null. */
  modelHit: boolean | null;
  modelEvidence: string[];
}

export type FindingVerdict = 'reproduced' | 'not-reproduced' | 'skipped' | 'inconclusive';

export interface FindingResult {
  name: string;
  title: string;
  claim: string;
  kernel: string;
  verdict: FindingVerdict;
  reason: string;
  experiments: ExperimentResult[];
  /** The model checker on the catalogue model. */
  model: {
    name: string;
    variant: string;
    verdict: string;
    property?: string;
    schedule?: string;
    executions: number;
  };
  /** Deterministic experiments: the model backend judged every experiment as the guest did. */
  modelAgrees: boolean | null;
}

/** The model checker's verdict on a finding's catalogue model (cached per process). */
const modelVerdicts = new Map<string, FindingResult['model']>();
export function modelVerdict(name: string, variant: string): FindingResult['model'] {
  const key = `${name}/${variant}`;
  const hit = modelVerdicts.get(key);
  if (hit !== undefined) return hit;
  const def = MODELS.find((m) => m.name === name);
  if (def === undefined) return { name, variant, verdict: 'unknown model', executions: 0 };
  const r = check(def, variant, { maxExecutions: 200_000, timeMs: 60_000 });
  const out = {
    name,
    variant,
    verdict: r.verdict,
    ...(r.property !== undefined ? { property: r.property } : {}),
    ...(r.counterexample !== undefined ? { schedule: r.counterexample.schedule } : {}),
    executions: r.executions,
  };
  modelVerdicts.set(key, out);
  return out;
}

/** Run experiments on the model backend (deterministic ones). */
export function judgeOnModel(e: Experiment, wrprotect: boolean, savedDirty = false): Judgement {
  const lab = new ModelLab({ wrprotect, savedDirty });
  const r = e.ops.map((o) => lab.exec(o));
  return e.judge(r, e.ops);
}

/** Derive the verdict from experiment results. */
export function verdictOf(ex: ExperimentResult[]): { verdict: FindingVerdict; reason: string } {
  const f = ex.find((e) => e.role === 'finding');
  const c = ex.find((e) => e.role === 'control');
  if (f === undefined) return { verdict: 'inconclusive', reason: 'no finding experiment' };
  if (f.hits === 0)
    return { verdict: 'not-reproduced', reason: `the loss did not happen in ${f.attempts} attempt(s)` };
  if (c !== undefined && c.hits > 0)
    return {
      verdict: 'inconclusive',
      reason: `the control (${c.name}) also lost the write in ${c.hits}/${c.attempts}: the experiment does not isolate the finding`,
    };
  return {
    verdict: 'reproduced',
    reason: `lost in ${f.hits}/${f.attempts} attempt(s)${c !== undefined ? `, control clean in ${c.attempts}/${c.attempts}` : ''}`,
  };
}

export interface ConfirmSession {
  kver: string;
  ready: { fb: boolean; wrprotect: boolean; mod: boolean } | null;
  smp: number;
  /** The kernel moves D to SavedDirty on write-protect (7.x). */
  savedDirty?: boolean;
  major?: number;
  minor?: number;
  run(ops: readonly LabOp[]): Promise<LabReply[]>;
}

/** Run `findings` on one booted kernel. */
export async function runConfirm(
  s: ConfirmSession,
  findings: readonly FindingDef[],
  o: { attempts?: number; log?: (line: string) => void } = {},
): Promise<FindingResult[]> {
  const out: FindingResult[] = [];
  for (const f of findings) {
    const fm =
      f.experiments.find((e) => e.role === 'finding')?.modelFor?.(s.major ?? 0, s.minor ?? 0) ?? f.model;
    const model = modelVerdict(fm.name, fm.variant);
    const base = { name: f.name, title: f.title, claim: f.claim, kernel: s.kver, model };
    const missing: string[] = [];
    if (s.ready?.mod !== true) missing.push('the test module did not load');
    if (f.needs.fb === true && s.ready?.fb !== true)
      missing.push('no test framebuffer (needs CONFIG_FB_DEFERRED_IO and dslab_fb.ko)');
    if (f.needs.wrprotect === true && s.ready?.wrprotect !== true) missing.push('no mapping_wrprotect_range');
    if (f.needs.smp !== undefined && s.smp < f.needs.smp) missing.push(`needs ${f.needs.smp} CPUs`);
    if (missing.length > 0) {
      out.push({
        ...base,
        verdict: 'skipped',
        reason: missing.join('; '),
        experiments: [],
        modelAgrees: null,
      });
      continue;
    }
    const ex: ExperimentResult[] = [];
    for (const e of f.experiments) {
      const attempts = e.attempts > 1 ? Math.max(1, o.attempts ?? e.attempts) : 1;
      let hits = 0;
      let evidence: string[] = [];
      for (let a = 0; a < attempts; a++) {
        const r = await s.run(e.ops);
        const j = e.judge(r, e.ops);
        if (j.hit) hits++;
        if (a === 0 || j.hit) evidence = j.evidence;
      }
      const m = e.onModel ? judgeOnModel(e, s.ready?.wrprotect === true, s.savedDirty === true) : null;
      const ref = e.modelFor !== undefined ? e.modelFor(s.major ?? 0, s.minor ?? 0) : e.model;
      const mc = ref === undefined ? null : modelVerdict(ref.name, ref.variant);
      ex.push({
        name: e.name,
        role: e.role,
        hits,
        attempts,
        evidence,
        modelHit: m !== null ? m.hit : mc !== null ? mc.verdict === 'fail' : null,
        modelEvidence:
          m !== null
            ? m.evidence
            : mc !== null
              ? [
                  `model checker ${mc.name}/${mc.variant}: ${mc.verdict}${mc.schedule ? ` (schedule ${mc.schedule})` : ''}`,
                ]
              : [],
      });
      o.log?.(`  ${s.kver} ${f.name} / ${e.name}: lost in ${hits}/${attempts}`);
    }
    const v = verdictOf(ex);
    const det = ex.filter((e) => e.modelHit !== null);
    const modelAgrees = det.length === 0 ? null : det.every((e) => e.modelHit === e.hits > 0);
    out.push({ ...base, ...v, experiments: ex, modelAgrees });
  }
  return out;
}
