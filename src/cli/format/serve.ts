/** Human output of `dirtyscope serve` (pure). */
export interface ServeStarted {
  url: string;
  host: string;
  port: number;
  traces: Array<{ id: number; name: string; url: string }>;
  built: boolean;
}

export function formatServeStarted(s: ServeStarted): string {
  const lines = [`dirtyscope: serving the visualizer at ${s.url}${s.built ? ' (built web/dist first)' : ''}`];
  if (s.traces.length > 0) {
    lines.push(`traces (${s.traces.length}, the first opens automatically):`);
    for (const t of s.traces) lines.push(`  ${s.url}?trace=${encodeURIComponent(t.url)}  ${t.name}`);
  }
  lines.push('Press Ctrl-C to stop.');
  return `${lines.join('\n')}\n`;
}
