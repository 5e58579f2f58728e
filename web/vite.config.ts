import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The page of `pbft web`: built into dist/webui (served by src/web/server.ts), no CDN, no
// inline scripts (the server's Content-Security-Policy allows 'self' only).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  logLevel: 'warn',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: fileURLToPath(new URL('../dist/webui', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 400,
  },
});
