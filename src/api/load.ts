/**
 * Loading a model the user wrote: a module (`.js`, `.mjs`, `.ts`, `.mts`) whose default export (or
 * export named `model`) is a {@link ModelDef}, or a litmus file (`*.litmus.json`). This is what
 * `dirtyscope check ./my-model.ts` and `dirtyscope replay ./my-model.ts` use; the result is checked
 * exactly like a catalogue model. Every problem is a one-line {@link ModelLoadError}.
 *
 * TypeScript modules load through the runtime's own loader when one is active (tsx, or a Node
 * with type stripping); otherwise through tsx's API if tsx is installed; otherwise the error says
 * to install tsx or compile the model to JavaScript.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import type { ModelDef } from '../checker/model.ts';

export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

const MODULE_EXT = /\.(m?js|cjs|m?ts|cts)$/;
const LITMUS_EXT = /\.litmus\.json$/;

/** True if a `check`/`replay` argument names a file rather than a catalogue model. */
export function isModelPath(arg: string): boolean {
  return /[\\/]/.test(arg) || MODULE_EXT.test(arg) || arg.endsWith('.json');
}

const variantShape = z.object({
  name: z.string().min(1),
  description: z.string(),
  expected: z.object({ verdict: z.enum(['pass', 'fail']), property: z.string().optional() }),
});
const modelShape = z.object({
  name: z.string().min(1),
  description: z.string(),
  variants: z.array(variantShape).min(1),
  checkDefaults: z.object({ preemptionBound: z.number().int().nonnegative().optional() }).optional(),
  create: z.custom<ModelDef['create']>((f) => typeof f === 'function', { error: 'expected a function' }),
});

/** Validate that `x` has the shape of a ModelDef; `where` names it in the error. */
export function asModelDef(x: unknown, where: string): ModelDef {
  const r = modelShape.safeParse(x);
  if (!r.success) {
    const i = r.error.issues[0]!;
    const path = i.path.length === 0 ? '' : ` at ${i.path.map(String).join('.')}`;
    throw new ModelLoadError(`${where}: the exported model is not a ModelDef${path}: ${i.message}`);
  }
  return x as ModelDef;
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : String(e);
  return m.split('\n')[0]!.trim();
}

async function importModule(file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ERR_UNKNOWN_FILE_EXTENSION' || !/\.[mc]?ts$/.test(file)) throw e;
  }
  // A .ts file with no TypeScript loader active: use tsx's API if it is installed.
  let tsx: { tsImport(specifier: string, parent: string): Promise<unknown> };
  try {
    tsx = (await import('tsx/esm/api' as string)) as typeof tsx;
  } catch {
    throw new ModelLoadError(
      `${file}: loading a TypeScript model needs tsx (npm install --save-dev tsx) or Node >= 22.18; or compile it to .js`,
    );
  }
  return (await tsx.tsImport(url, import.meta.url)) as Record<string, unknown>;
}

/**
 * Load the model in `file` (resolved against the current directory). A litmus file becomes a
 * model through the litmus interpreter; a module must export the model as `default` or `model`.
 */
export async function loadModelFile(file: string): Promise<ModelDef> {
  const abs = resolve(file);
  if (!existsSync(abs)) throw new ModelLoadError(`${file}: no such file`);
  if (LITMUS_EXT.test(abs)) {
    const { readLitmusFile, litmusModel } = await import('../litmus/load.ts');
    try {
      return guardCreate(litmusModel(await readLitmusFile(abs)), file);
    } catch (e) {
      throw new ModelLoadError(e instanceof Error ? e.message : String(e));
    }
  }
  if (!MODULE_EXT.test(abs))
    throw new ModelLoadError(`${file}: not a model module (.js, .mjs, .ts, .mts) or a .litmus.json file`);
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(abs);
  } catch (e) {
    if (e instanceof ModelLoadError) throw e;
    throw new ModelLoadError(`${file}: loading the module failed: ${firstLine(e)}`);
  }
  const x = mod.default ?? mod.model;
  if (x === undefined)
    throw new ModelLoadError(
      `${file}: exports no model (export default defineModel({...}) or export const model = ...)`,
    );
  return guardCreate(asModelDef(x, file), file);
}

/**
 * The same model, with `create` turning an exception (a broken setup: the model's bug, not a
 * finding) into a one-line {@link ModelLoadError} naming the file and variant.
 */
export function guardCreate(def: ModelDef, where: string): ModelDef {
  return {
    ...def,
    create(variant, opts) {
      try {
        return def.create(variant, opts);
      } catch (e) {
        throw new ModelLoadError(`${where}: create('${variant}') threw: ${firstLine(e)}`);
      }
    },
  };
}
