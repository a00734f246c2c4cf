/**
 * `dirtyscope/litmus`: litmus files (`*.litmus.json`, a declarative model format) as data, as
 * checkable models, and as a regression suite. See docs/models.md and the files under litmus/.
 *
 * @module
 */
export { litmusModel } from './build.ts';
export { listLitmusFiles, readLitmusFile } from './load.ts';
export {
  LITMUS_VERSION,
  type LitmusFile,
  LitmusFormatError,
  type LitmusStep,
  litmusSchema,
  parseLitmus,
} from './schema.ts';
export { collectLitmusFiles, runLitmusSuite, type SuiteRow } from './suite.ts';
