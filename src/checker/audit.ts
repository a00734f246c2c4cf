/**
 * Footprint audit: a test mode that records what each step ACTUALLY reads and writes of the shared
 * state and fails the execution (property {@link PROP_FOOTPRINT}) when a step touches an object
 * its declared footprint does not cover. Partial-order reduction trusts footprints (two steps on
 * different objects are never reordered-tested); a footprint that is too small makes the reduction
 * silently unsound, so every model that declares footprints should also run under the audit.
 *
 * How a model takes part: `ModelDef.create(variant, { trace, audit })` receives a FootprintAudit in
 * audit runs (`check(def, v, { audit: true })`) and wraps its shared state with it:
 * - {@link FootprintAudit.trackArray}: a typed array (or plain array) whose element i belongs to
 *   object `objectOf(i)`; indexed reads and writes are recorded (`arr[i]`, `arr[i] = v`);
 * - {@link FootprintAudit.trackObject}: a plain object whose property `key` belongs to object
 *   `objectOf(key)` (`undefined`: not shared, not audited);
 * - {@link FootprintAudit.read} / {@link FootprintAudit.write}: record an access by hand (code
 *   that keeps shared state in closures or calls typed-array methods).
 * Outside audit runs the model uses its raw state: the audit costs nothing in fast mode.
 *
 * Coverage rule: a read of object o is covered by a declared read or write of o; a write only by a
 * declared write of o; an unknown footprint covers everything. A Wait's footprint is the footprint
 * of the step that runs once the wait is ready (the engine audits that step against it); its
 * `ready()` is called between steps and is not audited. Accesses outside steps (`create`,
 * `checkStep`, `checkFinal`, `hashState`) are not recorded.
 */
import type { Violation } from './model.ts';
import { footprintAccesses } from './task.ts';

/** Property reported when a step touches an object outside its declared footprint. */
export const PROP_FOOTPRINT = 'footprint-audit';

type Indexed = { [i: number]: unknown; readonly length: number };

export interface AuditStats {
  /** Steps audited. */
  steps: number;
  /** Accesses to tracked objects recorded inside steps. */
  accesses: number;
  /** Steps that declared an object they did not touch (over-approximation: sound, reduces less). */
  overDeclared: number;
}

export class FootprintAudit {
  readonly stats: AuditStats = { steps: 0, accesses: 0, overDeclared: 0 };
  private active = false;
  private taskName = '';
  private stepNo = 0;
  /** Declared accesses of the running step: object -> 1 read, 3 write; null = unknown (all). */
  private declared: Map<number, number> | null = null;
  private touched = new Set<number>();
  private bad: Violation | null = null;

  /** Wrap a typed array (or array): element i is part of shared object `objectOf(i)`. */
  trackArray<T extends Indexed>(arr: T, objectOf: (index: number) => number): T {
    const self = this;
    return new Proxy(arr, {
      get(target, key) {
        if (typeof key === 'string') {
          const i = index(key);
          if (i >= 0) {
            if (self.active) self.read(objectOf(i));
            return target[i];
          }
        }
        // The raw array as receiver: typed-array getters (length) need its internal slots.
        const v = Reflect.get(target, key, target);
        // Methods (fill, set, subarray...) run on the raw array: record them by hand.
        return typeof v === 'function' ? v.bind(target) : v;
      },
      set(target, key, value) {
        if (typeof key === 'string') {
          const i = index(key);
          if (i >= 0) {
            if (self.active) self.write(objectOf(i));
            (target as { [i: number]: unknown })[i] = value;
            return true;
          }
        }
        return Reflect.set(target, key, value);
      },
    });
  }

  /** Wrap a plain object: property `key` is part of shared object `objectOf(key)` (or unshared). */
  trackObject<T extends object>(obj: T, objectOf: (key: string) => number | undefined): T {
    const self = this;
    return new Proxy(obj, {
      get(target, key) {
        if (self.active && typeof key === 'string') {
          const o = objectOf(key);
          if (o !== undefined) self.read(o);
        }
        return Reflect.get(target, key);
      },
      set(target, key, value) {
        if (self.active && typeof key === 'string') {
          const o = objectOf(key);
          if (o !== undefined) self.write(o);
        }
        return Reflect.set(target, key, value);
      },
    });
  }

  read(obj: number): void {
    if (!this.active) return;
    this.stats.accesses++;
    this.touched.add(obj);
    if (this.bad !== null || this.declared === null) return;
    if (this.declared.get(obj) === undefined) this.flag(obj, 'read', undefined);
  }

  write(obj: number): void {
    if (!this.active) return;
    this.stats.accesses++;
    this.touched.add(obj);
    if (this.bad !== null || this.declared === null) return;
    const d = this.declared.get(obj);
    if (d !== 3) this.flag(obj, 'write', d);
  }

  /** Engine: a step of `task` with declared footprint `fp` (and `set` if MULTI) starts. */
  beginStep(task: string, step: number, fp: number): void {
    this.active = true;
    this.taskName = task;
    this.stepNo = step;
    this.stats.steps++;
    this.touched.clear();
    this.bad = null;
    const list = footprintAccesses(fp);
    if (list === null) {
      this.declared = null;
      return;
    }
    const m = new Map<number, number>();
    for (const a of list) m.set(a >>> 1, (m.get(a >>> 1) ?? 1) | ((a & 1) << 1) | 1);
    this.declared = m;
  }

  /** Engine: the step ended; a violation if it touched an undeclared object. */
  endStep(): Violation | null {
    this.active = false;
    if (this.declared !== null && this.bad === null) {
      for (const o of this.declared.keys()) {
        if (!this.touched.has(o)) {
          this.stats.overDeclared++;
          break;
        }
      }
    }
    return this.bad;
  }

  private flag(obj: number, kind: string, declared: number | undefined): void {
    const had = declared === undefined ? 'does not name it' : 'declares only a read of it';
    this.bad = {
      property: PROP_FOOTPRINT,
      message: `step ${this.stepNo}: task ${this.taskName} made a ${kind} of object ${obj}, but its declared footprint ${had}`,
    };
  }
}

function index(key: string): number {
  const c = key.charCodeAt(0);
  if (c < 48 || c > 57) return -1;
  const n = Number(key);
  return Number.isInteger(n) ? n : -1;
}
