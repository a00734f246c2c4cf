/**
 * Which section of the behavioural spec (../shared/spec/kernel-spec.md, "spec §N") explains a
 * kernel, driver or hardware function named in a trace event's `fn` field.
 */

export interface SpecRef {
  /** Section number as cited ("7"). */
  readonly section: string;
  readonly title: string;
  /** GitHub-style heading anchor inside kernel-spec.md. */
  readonly anchor: string;
}

const SECTIONS: Record<string, string> = {
  '2': 'walk_page_mapping (mm/pagewalk.c)',
  '3': 'mapping_dirty_helpers.c',
  '4': 'vmwgfx coherent-memory dirty tracking (vmwgfx_page_dirty.c)',
  '5': 'fbdev deferred I/O (fb_defio.c)',
  '6': 'rmap write-protect/clean helpers (mm/rmap.c)',
  '7': 'Fault side (mm/memory.c)',
  '8': 'x86-64 paging facts (arch/x86)',
  '9': 'Deferred-flush bookkeeping (mm_types.h)',
  '10': 'Userspace equivalent: userfaultfd write-protect and PAGEMAP_SCAN',
};

/** GitHub's heading slug: lower-case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}

function ref(section: string): SpecRef {
  const title = SECTIONS[section]!;
  return { section, title, anchor: headingAnchor(`${section}. ${title}`) };
}

/** Rules in priority order: the first whose pattern matches the function name wins. */
const RULES: ReadonlyArray<readonly [RegExp, string]> = [
  // Fault side first: names such as wpPfnShared would otherwise look like helper callbacks.
  [
    /^(doWpPage|handleMmFault|handlePteFault|wpPfnShared|wpPageShared|wpPageReuse|wpPageCopy|doSharedFault|doFault|doPageMkwrite|faultDirtyShared|finishFault|pageMkwrite|pfnMkwrite|vmaWantsWritenotify|mprotectFixup|changeProtection)/,
    '7',
  ],
  [/^walkPage|^walkP[gum4]dRange|^walkPteRange/, '2'],
  [
    /^(wpSharedMappingRange|cleanRecordSharedMappingRange|wpPte|cleanRecordPte|wpClean|wpWalk|cleanWalk)/,
    '3',
  ],
  [/^vmw/, '4'],
  [/^fb(Deferred|Defio)/, '5'],
  [/^(mappingWrprotectRange|pageVmaMkcleanOne|folioMkclean|pfnMkcleanRange|pageMkclean)/, '6'],
  [/^(tlbFlush|flushTlb|incTlbFlushPending|decTlbFlushPending|mmTlbFlushPending|mmTlbFlushNested)/, '9'],
  [/^(hw|mmu|translate|tlbFill|tlbLookup|cpuStore|cpuLoad)/, '8'],
  [/^(pagemapScan|uffd|userfaultfd)/, '10'],
];

/** The spec section for a function name, or null when the spec does not describe it. */
export function specFor(fn: string): SpecRef | null {
  if (fn === '') return null;
  for (const [re, section] of RULES) if (re.test(fn)) return ref(section);
  return null;
}

/** Event kinds that are the hardware's own doing when no kernel function is named. */
const HW_KINDS: ReadonlySet<string> = new Set(['store', 'load', 'tlbFill', 'fault']);

/**
 * The spec section for an event: by its function name, else (no function named) hardware
 * actions — stores, loads, TLB fills, fault delivery, A/D updates by "hw" — point at §8.
 */
export function specForEvent(e: { fn: string; kind: string; by?: string }): SpecRef | null {
  const r = specFor(e.fn);
  if (r || e.fn !== '') return r;
  return HW_KINDS.has(e.kind) || (e.kind === 'pte' && e.by === 'hw') ? ref('8') : null;
}
