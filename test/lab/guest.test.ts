/**
 * The lab on real kernels: for each kernel `dirtyscope lab setup` prepared, boot the guest once,
 * run a fixed-seed differential run against the model, and replay the catalogue's findings.
 * The oracle for the findings is the catalogue: each finding's mainline model fails (the model
 * checker says so), and the real kernel must show the same loss; its control must not.
 * SKIP (with the reason) when the lab is not set up; DIRTYSCOPE_REQUIRE=lab makes that a failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINDINGS, type FindingResult, runConfirm } from '../../src/lab/confirm.ts';
import { modelSide, runLabDiff } from '../../src/lab/diff.ts';
import { ModelLab } from '../../src/lab/model-backend.ts';
import { labKernels, qemuPath } from '../../src/lab/paths.ts';
import { LabSession } from '../../src/lab/session.ts';
import { requireOrSkip } from '../capability.ts';

const ready = labKernels().filter((k) => k.hasKernel && k.hasGuest);
const reason =
  process.platform !== 'linux'
    ? 'not Linux'
    : qemuPath() === null
      ? 'qemu-system-x86_64 is not installed (run: npx dirtyscope lab setup)'
      : ready.length === 0
        ? 'no lab kernel is set up (run: npx dirtyscope lab setup)'
        : null;
const cap = requireOrSkip('lab', reason);

describe.skipIf(cap.skip)(`lab on real kernels${cap.label}`, () => {
  for (const k of ready) {
    describe(`Linux ${k.kver}`, () => {
      let s: LabSession;
      beforeAll(async () => {
        s = await LabSession.open(k, { smp: 2 });
      }, 300_000);
      afterAll(async () => {
        await s?.close();
      });

      it('the guest is up with the test module; the device PFNs are known', () => {
        expect(s.guest.ready?.mod).toBe(true);
        expect(s.bases.pfn).toBeGreaterThan(0);
        expect(s.bases.page).toBeGreaterThan(0);
        expect(s.guest.ready?.kver).toBe(k.kver);
      });

      it('a fixed-seed differential run agrees with the model on every reply', async () => {
        s.during = 'test: lab diff';
        const lab = new ModelLab(s.modelOptions());
        const r = await runLabDiff(s.side(), modelSide(lab), lab, {
          sequences: 150,
          length: 50,
          seed: 7,
          wrprotect: s.guest.ready?.wrprotect === true,
        });
        expect(r.mismatch).toBeNull();
        expect(r.ops).toBe(150 * 50);
        expect(r.coverage.mkwriteCalls).toBeGreaterThan(0);
        expect(r.coverage.wpChanged).toBeGreaterThan(0);
        expect(r.coverage.readOnlyVmaFirst).toBeGreaterThan(0);
      }, 600_000);

      describe('findings', () => {
        let results: FindingResult[] = [];
        beforeAll(async () => {
          s.during = 'test: lab confirm';
          results = await runConfirm(s.confirmTarget(), FINDINGS, { attempts: 2 });
        }, 900_000);
        const get = (n: string) => results.find((r) => r.name === n)!;

        for (const name of ['q1', 'q4', 'q10']) {
          it(`${name}: reproduced, control clean, and the model backend judges every experiment alike`, () => {
            const r = get(name);
            expect(r.model.verdict).toBe('fail'); // the catalogue's finding
            expect(r.verdict).toBe('reproduced');
            expect(r.modelAgrees).toBe(true);
          });
        }

        it('the mkwrite window: reproduced with the window held open; the driver-side fix holds with one mapping', () => {
          const r = get('mkwrite-window');
          expect(r.verdict).toBe('reproduced');
          const fix = r.experiments.find((e) => e.role === 'fix')!;
          expect(fix.hits).toBe(0);
          expect(fix.modelHit).toBe(false);
        });

        it('the mkwrite window with two mappings: the kernel agrees with the model checker on the driver-side fix', () => {
          const e = get('mkwrite-window').experiments.find((x) => x.role === 'fix-two-mappings')!;
          expect(e.modelHit).toBe(true);
          expect(e.hits > 0).toBe(e.modelHit);
        });

        it(`q3 (fb_defio): ${k.major >= 7 ? 'reproduced on today\u2019s worker' : 'not reproduced: the old worker takes the page lock'}`, () => {
          const r = get('q3');
          if (s.guest.ready?.fb !== true) {
            expect(r.verdict).toBe('skipped');
            return;
          }
          expect(r.verdict).toBe(k.major >= 7 ? 'reproduced' : 'not-reproduced');
        });

        it('no oops, BUG, WARN or hang in the guest', () => {
          expect(s.findings).toEqual([]);
        });
      });
    });
  }
});
