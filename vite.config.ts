import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

export default defineConfig({
  // Relative base: the build works from any sub-path (GitHub Pages serves from /<repo>/).
  base: './',
  plugins: [svelte()],
  build: { target: 'es2022', sourcemap: true },
  server: { host: '127.0.0.1' },
});
