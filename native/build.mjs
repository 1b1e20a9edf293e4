// Builds the native matcher with node-gyp against this Node's own headers.
// node-gyp run by hand downloads headers; passing --nodedir avoids the network
// when the headers ship with Node (Debian's nodejs puts them in /usr/include/node).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');

const args = [nodeGyp, 'rebuild', '--directory', here];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (result.status !== 0) {
  console.error('kcarve: building the native matcher failed; it needs python3, make and g++ ' +
    '(apt-get install -y python3 make g++) and Node headers.');
  process.exit(result.status ?? 1);
}
