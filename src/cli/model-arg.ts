/**
 * `check` and `replay` take a catalogue model name or a file: a user's model module (`.ts`/`.js`)
 * or a litmus file (`*.litmus.json`). A file becomes a one-model catalogue; any problem loading
 * it is a one-line usage error (exit 2).
 */
import type { ModelDef } from '../checker/model.ts';
import { UsageError } from './errors.ts';

export async function resolveModelArg(
  catalogue: readonly ModelDef[],
  arg: string,
): Promise<{ catalogue: readonly ModelDef[]; name: string }> {
  const { isModelPath, loadModelFile, ModelLoadError } = await import('../api/load.ts');
  if (!isModelPath(arg)) return { catalogue, name: arg };
  try {
    const def = await loadModelFile(arg);
    // Named by the path the user gave, so the replay command `check` prints loads it again.
    const guarded: ModelDef = {
      ...def,
      name: arg,
      create(variant, opts) {
        try {
          return def.create(variant, opts);
        } catch (e) {
          if (e instanceof ModelLoadError) throw new UsageError(e.message);
          throw e;
        }
      },
    };
    return { catalogue: [guarded], name: arg };
  } catch (e) {
    if (e instanceof ModelLoadError) throw new UsageError(e.message);
    throw e;
  }
}
