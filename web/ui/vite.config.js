import { defineConfig } from 'vite';

// Builds the single page into the web project's wwwroot, which `visibility serve` serves at /.
export default defineConfig({
  worker: {
    format: 'es',
    rolldownOptions: { output: { entryFileNames: 'assets/[name].js', chunkFileNames: 'assets/[name].js' } },
  },
  build: {
    outDir: '../wwwroot',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    // Stable names: the web project's build lists these files, and the server revalidates them by ETag.
    rolldownOptions: {
      output: {
        entryFileNames: 'assets/[name].js',
        chunkFileNames: 'assets/[name].js',
        assetFileNames: 'assets/[name][extname]',
      },
    },
  },
});
