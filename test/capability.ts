/**
 * Capabilities a test suite needs from the machine (the real kernel's userfaultfd + PAGEMAP_SCAN,
 * a browser, the QEMU guest lab, ...), and what happens when one is missing.
 *
 * API:
 *
 *   requireOrSkip(capability: string, reason: string | null): { skip: boolean; label: string }
 *
 *   - `capability`: a short name such as 'kernel', 'browser' or 'lab'.
 *   - `reason`: why the capability is missing on this machine, or null when it is present.
 *   - returns `skip` (pass it to describe.skipIf / it.skipIf) and `label`, a suffix for the
 *     suite's title: '' when present, else ` [SKIP: <capability>: <reason>]`, so the reason shows
 *     in the test output (the SKIP reporter, test/skip-reporter.ts, lists every skipped suite and
 *     test with its title after the run).
 *   - when the capability is missing and named in DIRTYSCOPE_REQUIRE (a comma-separated list, e.g.
 *     `DIRTYSCOPE_REQUIRE=kernel,browser,lab`, or `all`), the skip becomes a failure: a test named
 *     `required capability <capability> is missing: <reason>` is registered and fails, and the
 *     suite is still skipped (its tests could only fail for the same reason).
 *
 * Usage:
 *
 *   const cap = requireOrSkip('kernel', skipReason(probeKernel()));
 *   describe.skipIf(cap.skip)(`real backend${cap.label}`, () => { ... });
 *
 * Call it at module level (where describe/it may be registered), once per suite.
 */
import { it } from 'vitest';

/** The capabilities named in DIRTYSCOPE_REQUIRE (lower case; 'all' = every capability). */
export function requiredCapabilities(env: NodeJS.ProcessEnv = process.env): ReadonlySet<string> {
  const v = env.DIRTYSCOPE_REQUIRE ?? '';
  return new Set(
    v
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== ''),
  );
}

/** Whether `capability` is required (DIRTYSCOPE_REQUIRE names it, or says `all`). */
export function isRequired(capability: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const req = requiredCapabilities(env);
  return req.has('all') || req.has(capability.toLowerCase());
}

/** The title suffix and verdict for a capability (pure; see requireOrSkip). */
export function capabilityStatus(
  capability: string,
  reason: string | null,
  env: NodeJS.ProcessEnv = process.env,
): { skip: boolean; label: string; fail: string | null } {
  if (reason === null) return { skip: false, label: '', fail: null };
  const oneLine = reason.replace(/\s+/g, ' ').trim();
  return {
    skip: true,
    label: ` [SKIP: ${capability}: ${oneLine}]`,
    fail: isRequired(capability, env) ? `required capability ${capability} is missing: ${oneLine}` : null,
  };
}

export function requireOrSkip(capability: string, reason: string | null): { skip: boolean; label: string } {
  const st = capabilityStatus(capability, reason);
  if (st.fail !== null) {
    const msg = st.fail;
    it(msg, () => {
      throw new Error(`${msg} (DIRTYSCOPE_REQUIRE=${process.env.DIRTYSCOPE_REQUIRE ?? ''})`);
    });
  }
  return { skip: st.skip, label: st.label };
}
