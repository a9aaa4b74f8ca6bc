// Bundles the preview page once into dist/ (index.html + main.js), for file:// in Chromium.
import { build } from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';

mkdirSync('dist', { recursive: true });
await build({
    entryPoints: ['src/main.jsx'],
    bundle: true,
    outfile: 'dist/main.js',
    format: 'iife',
    jsx: 'automatic',
    loader: { '.js': 'jsx' },
    define: { 'process.env.NODE_ENV': '"production"', global: 'window' },
    minify: true,
    logLevel: 'warning',
});
writeFileSync(
    'dist/index.html',
    '<!doctype html><html><head><meta charset="utf-8"><title>Kepler dashboard preview</title><link rel="icon" href="data:,">' +
        '<link rel="stylesheet" href="main.css"><style>html,body{margin:0;background:#fff}</style></head>' +
        '<body><div id="root"></div><script src="main.js"></script></body></html>\n',
);
