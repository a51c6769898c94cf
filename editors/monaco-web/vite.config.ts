// Builds the page into the Python package (mimi_lsp/web/static), where `mimi-lsp web` serves it.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  build: {
    outDir: '../../mimi_lsp/web/static',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 5000,
    reportCompressedSize: false,
    sourcemap: false,
  },
  worker: { format: 'es' },
});
