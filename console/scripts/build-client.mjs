// Builds the client package the console imports (../clients/js, a file: dependency): installs its
// own dependencies first when they are missing (a fresh clone, a Vercel build), then runs tsc.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const client = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'clients', 'js');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
if (!existsSync(join(client, 'node_modules', '@supabase', 'postgrest-js'))) {
  console.log('build-client: npm ci in clients/js');
  execFileSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: client, stdio: 'inherit' });
}
execFileSync(npm, ['run', 'build'], { cwd: client, stdio: 'inherit' });
