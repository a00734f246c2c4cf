import type { ModelDef } from '../checker/model.ts';
import { DRIVER_MODELS } from './driver-models.ts';
import { HELPER_MODELS } from './helper-models.ts';

/**
 * The catalogue of checkable models. Each entry names its variants and the verdict each variant
 * is expected to reach (tested in test/models/catalogue.test.ts).
 */
export const MODELS: ModelDef[] = [...HELPER_MODELS, ...DRIVER_MODELS];
