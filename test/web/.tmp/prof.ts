import { mkdtempSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { buildWeb, startServer } from '/work/main/src/cli/cmd-serve.ts';
import { syntheticTrace } from '/work/main/web/src/synthetic.ts';

const t = syntheticTrace({ steps: 10000, seed: 7 });
const f = '/tmp/webeng7/t10k.json';
writeFileSync(f, JSON.stringify(t));
const dist = mkdtempSync('/tmp/webeng7/dist-');
await buildWeb(dist);
const srv = await startServer({ port: 0, host: '127.0.0.1', traces: [f], dist });
const b = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu'],
});
for (let i = 0; i < 3; i++) {
  const p = await b.newPage();
  await p.goto(srv.url);
  await p.waitForFunction(() => window.__dirtyscope?.ready === true);
  console.log(
    await p.evaluate(() =>
      JSON.stringify({
        ...window.__dirtyscope.marks,
        readyAt: window.__dirtyscope.readyAt,
        dcl: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
      }),
    ),
  );
  await p.close();
}
await b.close();
await srv.close();
