/** Exit codes of the CLI contract (DESIGN.md). */
export const EXIT_OK = 0;
export const EXIT_VIOLATION = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_SKIP = 3;

/** Bad input from the user (arguments, files): printed as one line, exit code 2. */
export class UsageError extends Error {}

/** A capability the machine lacks (real-kernel backend): printed as SKIP, exit code 3. */
export class SkipError extends Error {}
