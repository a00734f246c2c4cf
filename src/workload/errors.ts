/**
 * Bad workload input (scenario file, trace file, cost parameters). Every message is one line that
 * names the offending field or line; the CLI maps this class (and its subclasses) to exit code 2.
 */
export class WorkloadInputError extends Error {
  override name = 'WorkloadInputError';
}
