/**
 * Schedule strings: the printable, versioned form of an execution's choices.
 *
 * Only choice points (steps where more than one task was enabled) are recorded; each records the
 * index of the task that ran. Format: `v1:` then runs of equal choices, each run a task letter
 * (`A`..`Z` = tasks 0..25, `a`..`e` = tasks 26..30) followed by the run length in decimal when it
 * is more than 1. Example: choices [0, 0, 0, 1, 1, 0] encode as `v1:A3B2A`; no choices as `v1:`.
 */
import { MAX_TASKS } from './scheduler.ts';

export const SCHEDULE_PREFIX = 'v1:';
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcde';
/** Refuse to decode schedules with more choices than this (a typo must not allocate gigabytes). */
export const MAX_SCHEDULE_CHOICES = 10_000_000;

/** A schedule string that cannot be decoded; the message is one line naming the problem. */
export class ScheduleFormatError extends Error {}

export function encodeSchedule(choices: ArrayLike<number>): string {
  let out = SCHEDULE_PREFIX;
  let i = 0;
  while (i < choices.length) {
    const t = choices[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= MAX_TASKS) throw new RangeError(`task index ${t} out of range`);
    let j = i + 1;
    while (j < choices.length && choices[j] === t) j++;
    out += ALPHABET[t];
    if (j - i > 1) out += String(j - i);
    i = j;
  }
  return out;
}

export function decodeSchedule(s: string): number[] {
  const shown = s.length > 40 ? `${s.slice(0, 40)}...` : s;
  if (!s.startsWith(SCHEDULE_PREFIX)) {
    throw new ScheduleFormatError(`bad schedule '${shown}': must start with '${SCHEDULE_PREFIX}'`);
  }
  const out: number[] = [];
  let i = SCHEDULE_PREFIX.length;
  while (i < s.length) {
    const ch = s[i]!;
    const t = ALPHABET.indexOf(ch);
    if (t < 0) {
      throw new ScheduleFormatError(
        `bad schedule '${shown}': unexpected '${ch}' at position ${i} (expected a task letter A-Z or a-e)`,
      );
    }
    i++;
    let j = i;
    while (j < s.length && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) j++;
    let count = 1;
    if (j > i) {
      const digits = s.slice(i, j);
      count = Number(digits);
      if (digits[0] === '0' || count < 2) {
        throw new ScheduleFormatError(
          `bad schedule '${shown}': run length '${digits}' at position ${i} must be >= 2 without leading zeros`,
        );
      }
    }
    if (out.length + count > MAX_SCHEDULE_CHOICES) {
      throw new ScheduleFormatError(`bad schedule '${shown}': more than ${MAX_SCHEDULE_CHOICES} choices`);
    }
    for (let k = 0; k < count; k++) out.push(t);
    i = j;
  }
  return out;
}
