/** The tracking suite on the real kernel (SKIP with the probe's reason where it cannot run). */
import { probeKernel, skipReason } from '../../src/linux/probe.ts';
import { KernelBackend } from '../../src/linux/real-backend.ts';
import { defineTrackingSuite } from './suite.ts';

defineTrackingSuite(
  'kernel',
  () => new KernelBackend(),
  () => skipReason(probeKernel()),
);
