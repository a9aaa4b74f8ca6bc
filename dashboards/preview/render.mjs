// Renders each dashboard of a manifest in headless Chromium and reports, from the DOM, what
// every visualization shows: `node render.mjs <manifest.json> <out-dir>` writes
// <out-dir>/<name>.png and <out-dir>/report.json. The manifest: {"chromium": path,
// "dashboards": [{"name", "definition", "fixtures": {data source id: {fields, columns}}}],
// "settleMs": how long a dashboard may take to show every visualization (30000; a
// dashboard may set its own)}.
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [manifestPath, outDir] = process.argv.slice(2);
if (!manifestPath || !outDir) {
    console.error('usage: node render.mjs <manifest.json> <out-dir>');
    process.exit(2);
}
const dist = resolve(here, 'dist');
if (!existsSync(join(dist, 'index.html'))) {
    console.error(`${dist}/index.html is missing: build the preview page first (npm run build)`);
    process.exit(2);
}
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
const executablePath = manifest.chromium || '/usr/bin/chromium';
if (!existsSync(executablePath)) {
    console.error(`no Chromium at ${executablePath}: install Debian's chromium (make system-deps)`);
    process.exit(2);
}
mkdirSync(outDir, { recursive: true });

// What one visualization shows: an error or waiting state, else how many data marks.
function inspect(ids) {
    const out = {};
    for (const [id, type] of Object.entries(ids)) {
        const el = document.querySelector(`[data-test="viz-item"][data-id="${id}"]`);
        if (!el) {
            out[id] = { type, state: 'missing', marks: 0, text: '' };
            continue;
        }
        const bad = el.querySelector('[data-test="viz-waiting-for-input"], [data-test="status-icon-container"]');
        let marks = 0;
        if (type === 'splunk.table') {
            marks = [...el.querySelectorAll('[data-test="row"]')].filter((r) => r.querySelector('[data-test="cell"]')).length;
        }
        else if (type === 'splunk.singlevalue') {
            const v = el.querySelector('[data-test="majorValue"]');
            marks = v && v.textContent.trim() && v.textContent.trim() !== 'N/A' ? 1 : 0;
        } else {
            marks = el.querySelectorAll('.highcharts-point, .highcharts-graph').length;
        }
        out[id] = {
            type,
            state: bad ? 'error' : marks > 0 ? 'data' : 'empty',
            marks,
            text: (bad ? bad.textContent : el.textContent).trim().slice(0, 300),
        };
    }
    return out;
}

// Splunk Web's part, answered by a double: the page and bundle, and the splunkd REST calls
// Dashboard Studio's inputs make through Splunk Web (the time range input's presets, the
// user's context). Any other splunkd call is answered 404 and reported.
const PRESETS = [
    ['Last 15 minutes', '-15m', 'now'],
    ['Last 60 minutes', '-60m@m', 'now'],
    ['Last 4 hours', '-4h@m', 'now'],
    ['Last 24 hours', '-24h@h', 'now'],
    ['Last 7 days', '-7d@h', 'now'],
    ['Last 30 days', '-30d@d', 'now'],
    ['All time', '', ''],
];
const SPLUNKD = {
    '/splunkd/__raw/services/data/ui/times': () => ({
        entry: PRESETS.map(([label, earliest, latest], i) => ({
            name: `preset_${i}`,
            content: { label, earliest_time: earliest, latest_time: latest, order: i, disabled: false },
        })),
    }),
    '/splunkd/__raw/services/authentication/current-context': () => ({
        entry: [{ content: { username: 'preview', roles: ['user'], capabilities: [] } }],
    }),
};
const unknownCalls = [];
const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://preview');
    const answer = SPLUNKD[url.pathname];
    if (answer) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer()));
        return;
    }
    const file = join(dist, url.pathname === '/' ? 'index.html' : url.pathname.slice(1));
    if (!url.pathname.startsWith('/splunkd/') && file.startsWith(dist) && existsSync(file)) {
        const type = file.endsWith('.js') ? 'text/javascript' : file.endsWith('.css') ? 'text/css' : 'text/html';
        res.writeHead(200, { 'content-type': type });
        res.end(readFileSync(file));
        return;
    }
    unknownCalls.push(url.pathname);
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ messages: [{ type: 'ERROR', text: 'not in the preview double' }] }));
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
const report = {};
try {
    const page = await browser.newPage({ viewport: { width: 1240, height: 900 } });
    const problems = [];
    page.on('pageerror', (e) => problems.push(String(e).slice(0, 500)));
    await page.addInitScript(() => {
        // What Splunk Web puts on every page; the inputs read splunkd's path from it.
        // SERVER_ZONEINFO in Splunk's serialized form: UTC, offset 0.
        window.$C = {
            SPLUNKD_PATH: '/splunkd/__raw',
            LOCALE: 'en-US',
            MRSPARKLE_ROOT_PATH: '',
            APP: 'kepler',
            SERVER_ZONEINFO: '### SERIALIZED TIMEZONE FORMAT 1.0;Y0 NW 55 54 43;$',
        };
    });
    await page.goto(`${base}/`, { timeout: 120000 }); // the bundle loads once
    for (const dash of manifest.dashboards) {
        problems.length = 0;
        unknownCalls.length = 0;
        await page.setViewportSize({ width: 1240, height: 900 });
        await page.evaluate(
            (c) => window.keplerRender(c),
            { definition: dash.definition, fixtures: dash.fixtures, theme: 'light' },
        );
        const ids = Object.fromEntries(
            Object.entries(dash.definition.visualizations).map(([id, v]) => [id, v.type]),
        );
        // Rendering settles within seconds (twice: the first model selected re-runs the
        // searches that use it); every wait is bounded.
        const deadline = Date.now() + (dash.settleMs ?? manifest.settleMs ?? 30000);
        const settle = async () => {
            let seen = await page.evaluate(inspect, ids);
            while (Date.now() < deadline && !Object.values(seen).every((v) => v.state !== 'missing' && v.state !== 'empty')) {
                await page.waitForTimeout(250);
                seen = await page.evaluate(inspect, ids);
            }
            return seen;
        };
        await settle();
        await page.waitForTimeout(1000);
        await settle();
        await page.waitForTimeout(800); // chart animations end before the screenshot
        const seen = await page.evaluate(inspect, ids);
        await page.screenshot({ path: join(outDir, `${dash.name}.png`), fullPage: true });
        const inputs = await page.evaluate(() =>
            [...document.querySelectorAll('[data-test="input-item"], [data-input-type]')].map((e) =>
                e.textContent.trim().slice(0, 200),
            ),
        );
        report[dash.name] = {
            visualizations: seen,
            inputs,
            pageErrors: [...problems],
            unknownCalls: [...unknownCalls],
        };
    }
} finally {
    await browser.close();
    server.close();
}
writeFileSync(join(outDir, 'report.json'), JSON.stringify(report, null, 2));
console.log(`rendered ${Object.keys(report).length} dashboard(s) into ${outDir}`);
