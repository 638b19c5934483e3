// bench_env.mjs: the environment the node benchmarks run fk-gateway and
// tests/integration/lib.mjs with, set before lib.mjs is imported (it reads
// the environment as it loads, so the benchmarks import it dynamically
// after calling benchEnv). Not a benchmark itself.
//
//   benchEnv(['drivers/llamacpp-proxy/.libs', ...])
//
// FK_TOP_BUILDDIR is required (the README gives relative paths; what the
// benchmarks start, createRequire among them, needs absolute ones, so it
// and FK_NODE_MODULES are made absolute). Defaults for the rest:
// FK_NODE_MODULES tests/node_modules, FK_TOP_SRCDIR this source tree,
// FK_FIXTURES the build's tests/fixtures-built, FK_TOKENIZER_DATA the
// source tree's tokenizer/data, FK_DRIVER_DIR the given build folders.
import { join, resolve } from 'node:path';

export function benchEnv(driverDirs) {
  const env = process.env;
  if (!env.FK_TOP_BUILDDIR) throw new Error('set FK_TOP_BUILDDIR to a build directory');
  env.FK_TOP_BUILDDIR = resolve(env.FK_TOP_BUILDDIR);
  env.FK_NODE_MODULES = resolve(env.FK_NODE_MODULES ?? new URL('../node_modules', import.meta.url).pathname);
  env.FK_TOP_SRCDIR ??= resolve(new URL('../..', import.meta.url).pathname);
  env.FK_FIXTURES ??= join(env.FK_TOP_BUILDDIR, 'tests', 'fixtures-built');
  env.FK_TOKENIZER_DATA ??= join(env.FK_TOP_SRCDIR, 'tokenizer', 'data');
  env.FK_DRIVER_DIR ??= driverDirs.map((d) => join(env.FK_TOP_BUILDDIR, d)).join(':');
}
