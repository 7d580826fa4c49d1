import path from 'node:path';
import type { NextConfig } from 'next';

// The console imports the client package from ../clients/js (a file: dependency, a symlink in
// node_modules): Turbopack resolves files only below its root, so the root is the repository.
const repoRoot = path.join(__dirname, '..');

const nextConfig: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  turbopack: { root: repoRoot },
  outputFileTracingRoot: repoRoot,
};

export default nextConfig;
