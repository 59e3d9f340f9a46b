import { defineConfig } from 'vite';

// Builds the single page into the web project's wwwroot, which `visibility serve` serves at /.
export default defineConfig({
  build: {
    outDir: '../wwwroot',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
});
