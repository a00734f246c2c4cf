import type { ModelDef } from '../checker/model.ts';

/**
 * The catalogue of checkable models (filled in by the models layer). Each entry names its
 * variants and the verdict each variant is expected to reach.
 */
export const MODELS: ModelDef[] = [];
