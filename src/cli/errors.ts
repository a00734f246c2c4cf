/** Exit codes of the CLI contract (DESIGN.md). */
export const EXIT_OK = 0;
export const EXIT_VIOLATION = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_SKIP = 3;
/** A bug in dirtyscope (an exception no input check caught): one line, exit 70 (EX_SOFTWARE). */
export const EXIT_INTERNAL = 70;

/** Bad input from the user (arguments, files): printed as one line, exit code 2. */
export class UsageError extends Error {}

/** A capability the machine lacks (real-kernel backend): printed as SKIP, exit code 3. */
export class SkipError extends Error {}

/** `s` on one line: line breaks become spaces, and at most 400 characters. */
export function oneLine(s: string): string {
  const t = s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  return t.length > 400 ? `${t.slice(0, 397)}...` : t;
}
