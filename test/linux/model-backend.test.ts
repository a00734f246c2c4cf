/** The tracking suite (written after pagemap_ioctl.c) on the model backend: runs everywhere. */
import { ModelBackend } from '../../src/linux/model-backend.ts';
import { defineTrackingSuite } from './suite.ts';

defineTrackingSuite('model', () => new ModelBackend());
