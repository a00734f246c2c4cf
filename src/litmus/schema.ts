/**
 * Litmus files (`*.litmus.json`, format version 1): a checkable model written as data, for people
 * who do not want to write TypeScript. A file names the machine (CPUs, a tracking driver with its
 * method, the mappings of its file with their flags, secondary MMUs), setup steps run before the
 * race, a few tasks as lists of standard steps, the final round and property, and the variants to
 * check with the verdict each is expected to reach. Validated with zod; the first problem becomes
 * a one-line {@link LitmusFormatError} naming the field path (`tasks.0.steps.2.op: ...`).
 *
 * See docs/models.md ("Litmus files") and the files under litmus/ and examples/.
 */
import { z } from 'zod';
import { HELPER_VARIANT_NAMES } from '../api/model.ts';

export const LITMUS_VERSION = 1;

export class LitmusFormatError extends Error {
  override name = 'LitmusFormatError';
}

const error = (what: string) => ({ error: `expected ${what}` });
const int = (lo: number, hi: number) =>
  z
    .number(error(`an integer in [${lo}, ${hi}]`))
    .int(error(`an integer in [${lo}, ${hi}]`))
    .min(lo, error(`an integer in [${lo}, ${hi}]`))
    .max(hi, error(`an integer in [${lo}, ${hi}]`));
const name = z
  .string(error('a name ([A-Za-z0-9_.+-], 1-40 characters)'))
  .regex(/^[A-Za-z0-9_.+-]{1,40}$/, error('a name ([A-Za-z0-9_.+-], 1-40 characters)'));
const MAX_PAGES = 512;
const page = int(0, MAX_PAGES - 1);
const count = int(1, MAX_PAGES);
const variantList = z.array(name).min(1, error('at least one variant name'));

/** Fields every step accepts: run the step only in some variants, or in all but some. */
const gate = { only: variantList.optional(), except: variantList.optional() };
const onMapping = { mapping: name, page };
const range = { first: page.optional(), nr: count.optional() };

const stepSchema = z.discriminatedUnion(
  'op',
  [
    /** A user store (one byte) by the task's CPU through a mapping; a fatal fault is a crash, or ends the task with `onFault: "stop"`. */
    z.strictObject({
      op: z.literal('store'),
      ...onMapping,
      value: int(0, 255).optional(),
      onFault: z.enum(['crash', 'stop']).optional(),
      ...gate,
    }),
    /** A user load (one byte). */
    z.strictObject({ op: z.literal('load'), ...onMapping, ...gate }),
    /** handle_mm_fault on a page of a mapping (a read or write fault). */
    z.strictObject({ op: z.literal('fault'), ...onMapping, write: z.boolean(), ...gate }),
    /** wp_shared_mapping_range over device-file pages; `check` tests wp-complete when it returns. */
    z.strictObject({ op: z.literal('wp'), ...range, check: z.boolean().optional(), ...gate }),
    /** clean_record_shared_mapping_range over device-file pages into the driver's bitmap. */
    z.strictObject({ op: z.literal('clean'), ...range, ...gate }),
    /** mapping_wrprotect_range over device-file pages (write-protect and clean each PTE). */
    z.strictObject({ op: z.literal('wrprotect'), ...range, ...gate }),
    /** Take / drop the driver's tracker lock. */
    z.strictObject({ op: z.literal('lock'), ...gate }),
    z.strictObject({ op: z.literal('unlock'), ...gate }),
    /** The consumer takes every bit the driver recorded (hold the lock). */
    z.strictObject({ op: z.literal('consume'), ...gate }),
    /**
     * One driver scan round: lock; MKWRITE: wp (+ wp-complete check if `check`); PAGETABLE:
     * (wp if `wpFirst`) then clean_record; consume; unlock.
     */
    z.strictObject({
      op: z.literal('scan'),
      check: z.boolean().optional(),
      wpFirst: z.boolean().optional(),
      ...gate,
    }),
    /** mprotect of mapping pages [page, page + pages) to `prot`. */
    z.strictObject({
      op: z.literal('mprotect'),
      ...onMapping,
      pages: count.optional(),
      prot: z.enum(['none', 'r', 'rw']),
      ...gate,
    }),
    /** munmap / madvise(MADV_DONTNEED) of mapping pages [page, page + pages). */
    z.strictObject({ op: z.literal('munmap'), ...onMapping, pages: count.optional(), ...gate }),
    z.strictObject({ op: z.literal('madvise-dontneed'), ...onMapping, pages: count.optional(), ...gate }),
    /** A store by secondary MMU `device` (index into machine.secondaryMmus) through its cached translation. */
    z.strictObject({
      op: z.literal('device-store'),
      device: int(0, 7),
      ...onMapping,
      value: int(0, 255).optional(),
      ...gate,
    }),
    /** A bare preemption point (another task may run here). */
    z.strictObject({ op: z.literal('yield'), ...gate }),
  ],
  error(
    'a step with "op" one of store, load, fault, wp, clean, wrprotect, lock, unlock, consume, scan, mprotect, munmap, madvise-dontneed, device-store, yield',
  ),
);

const mappingSchema = z.strictObject({
  name,
  pgoff: page.optional(),
  pages: count,
  shared: z.boolean(),
  write: z.boolean(),
  /** The file was opened O_RDWR (default true); false gives a VM_MAYSHARE-only mapping. */
  fdWritable: z.boolean().optional(),
});

const expectSchema = z
  .strictObject({
    verdict: z.enum(['pass', 'fail']),
    property: z.string().min(1).optional(),
  })
  .refine((e) => e.verdict === 'fail' || e.property === undefined, {
    error: 'a "property" only goes with verdict "fail"',
  });

const variantSchema = z.strictObject({
  name,
  description: z.string().optional(),
  /** The helper variant wp/clean/scan steps use (default mainline). */
  helpers: z.enum(HELPER_VARIANT_NAMES as [string, ...string[]]).optional(),
  /** Driver variants: the mkwrite-window fix, the zap-records fix (Q10). */
  mkwriteLocked: z.boolean().optional(),
  zapRecords: z.boolean().optional(),
  expect: expectSchema,
});

export const litmusSchema = z
  .strictObject({
    litmus: z.literal(LITMUS_VERSION, error(`"litmus": ${LITMUS_VERSION} (the format version)`)),
    name,
    description: z.string(),
    /** The catalogue model this file reproduces, if any (tested: same verdicts). */
    catalogue: name.optional(),
    machine: z.strictObject({
      cpus: int(1, 8),
      driver: z.strictObject({ pages: count, tracking: z.enum(['mkwrite', 'pagetable']) }),
      mappings: z.array(mappingSchema).min(1, error('at least one mapping')),
      /** Names of mappings whose mm gets a secondary MMU (KVM/IOMMU-like, mmu-notifier invalidated). */
      secondaryMmus: z.array(name).optional(),
    }),
    setup: z.array(z.strictObject({ cpu: int(0, 7).optional(), step: stepSchema })).optional(),
    tasks: z
      .array(z.strictObject({ name, cpu: int(-1, 7), steps: z.array(stepSchema) }))
      .min(1, error('at least one task')),
    final: z
      .strictObject({
        steps: z.array(stepSchema).optional(),
        check: z.enum(['no-lost-write', 'none']).optional(),
      })
      .optional(),
    checkDefaults: z.strictObject({ preemptionBound: int(0, 1000).optional() }).optional(),
    variants: z.array(variantSchema).min(1, error('at least one variant')),
  })
  .superRefine((l, ctx) => {
    const maps = new Set(l.machine.mappings.map((m) => m.name));
    const dup = (xs: string[]) => xs.find((x, i) => xs.indexOf(x) !== i);
    const d =
      dup(l.machine.mappings.map((m) => m.name)) ??
      dup(l.tasks.map((t) => t.name)) ??
      dup(l.variants.map((v) => v.name));
    if (d !== undefined) ctx.addIssue({ code: 'custom', message: `duplicate name "${d}"`, path: [] });
    l.machine.mappings.forEach((m, i) => {
      if ((m.pgoff ?? 0) + m.pages > l.machine.driver.pages)
        ctx.addIssue({
          code: 'custom',
          message: `maps past the driver's ${l.machine.driver.pages} pages`,
          path: ['machine', 'mappings', i],
        });
    });
    (l.machine.secondaryMmus ?? []).forEach((s, i) => {
      if (!maps.has(s))
        ctx.addIssue({
          code: 'custom',
          message: `no mapping named "${s}"`,
          path: ['machine', 'secondaryMmus', i],
        });
    });
    const vnames = new Set(l.variants.map((v) => v.name));
    const checkSteps = (steps: readonly z.infer<typeof stepSchema>[], path: (string | number)[]) =>
      steps.forEach((s, j) => {
        for (const v of [...(s.only ?? []), ...(s.except ?? [])])
          if (!vnames.has(v))
            ctx.addIssue({ code: 'custom', message: `no variant named "${v}"`, path: [...path, j] });
        if ('mapping' in s) {
          const m = l.machine.mappings.find((x) => x.name === s.mapping);
          if (m === undefined)
            ctx.addIssue({ code: 'custom', message: `no mapping named "${s.mapping}"`, path: [...path, j] });
          else if (s.page + ('pages' in s ? (s.pages ?? 1) : 1) > m.pages)
            ctx.addIssue({
              code: 'custom',
              message: `page range past the end of mapping "${m.name}" (${m.pages} pages)`,
              path: [...path, j],
            });
        }
        if ('first' in s || 'nr' in s) {
          const r = s as { first?: number; nr?: number };
          if ((r.first ?? 0) + (r.nr ?? l.machine.driver.pages - (r.first ?? 0)) > l.machine.driver.pages)
            ctx.addIssue({ code: 'custom', message: 'range past the driver pages', path: [...path, j] });
        }
        if (s.op === 'device-store' && s.device >= (l.machine.secondaryMmus ?? []).length)
          ctx.addIssue({ code: 'custom', message: `no secondary MMU ${s.device}`, path: [...path, j] });
      });
    (l.setup ?? []).forEach((s, i) => {
      checkSteps([s.step], ['setup', i]);
    });
    l.tasks.forEach((t, i) => {
      checkSteps(t.steps, ['tasks', i, 'steps']);
    });
    checkSteps(l.final?.steps ?? [], ['final', 'steps']);
  });

export type LitmusFile = z.infer<typeof litmusSchema>;
export type LitmusStep = z.infer<typeof stepSchema>;

/** The first problem as `where: path: message` (one line). */
function firstIssue(where: string, err: z.ZodError): string {
  const issue = err.issues[0]!;
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') path.push(issue.keys[0]!);
  const at = path.length === 0 ? '' : ` ${path.join('.')}:`;
  return `${where}:${at} ${issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message}`;
}

/** Parse and validate a litmus document; `where` names it in errors (a file name). */
export function parseLitmus(text: string, where = 'litmus'): LitmusFile {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch (e) {
    throw new LitmusFormatError(`${where}: not valid JSON: ${(e as Error).message}`);
  }
  const r = litmusSchema.safeParse(x);
  if (!r.success) throw new LitmusFormatError(firstIssue(where, r.error));
  return r.data;
}
