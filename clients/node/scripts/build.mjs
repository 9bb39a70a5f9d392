// Build the package: compile src/ into dist/ and copy the motion.v1 proto and
// its service config from the repository's proto/ into proto/, which ships.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const repoProto = fileURLToPath(new URL('../../../proto/motion/v1', import.meta.url));
const shippedProto = `${root}/proto/motion/v1`;

if (existsSync(repoProto)) {
  mkdirSync(shippedProto, { recursive: true });
  for (const file of ['motion.proto', 'service_config.json']) cpSync(`${repoProto}/${file}`, `${shippedProto}/${file}`);
} else if (!existsSync(`${shippedProto}/motion.proto`)) {
  throw new Error(`no motion.proto in ${repoProto} nor ${shippedProto}`);
}

rmSync(`${root}/dist`, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', `${root}/tsconfig.json`], { stdio: 'inherit' });
} catch {
  process.exit(1); // tsc printed the errors
}
