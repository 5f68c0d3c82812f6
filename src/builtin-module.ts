/**
 * A Node built-in module loaded when it is first needed, for the modules
 * that are in the sendmail command's start-up snapshot: what a module
 * imports at its top is in the heap that every message deserializes, so
 * one that only some messages use (node:net, to nudge a running agent) is
 * loaded at its first use instead.
 *
 * Inside the snapshot, import() has no loader to call (it rejects with
 * ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so the module comes from
 * process.getBuiltinModule (Node 20.16+ and 22.3+) or, on the older Nodes
 * that `engines` still takes, from the `require` the snapshot builder gives
 * its script. An ES-module build has no real `require`: an esbuild bundle
 * (the sendmail command's plain bundle) has a stand-in that throws, dist/
 * has none. Those fall back to `importIt`, the caller's `import()` of the
 * same name (written literally, so test/architecture.test.ts can read the
 * import graph), and there is a loader there. Never throws; rejects only
 * as that import() does.
 */
export function loadBuiltinModule<T>(name: `node:${string}`, importIt: () => Promise<T>): Promise<T> {
  const loaded = builtinModuleNow<T>(name);
  return loaded !== undefined ? Promise.resolve(loaded) : importIt();
}

/**
 * The built-in module at once, where there is a way without a loader:
 * process.getBuiltinModule, else a real `require` (the snapshot's script);
 * undefined in an ES-module build on a Node without getBuiltinModule.
 */
export function builtinModuleNow<T>(name: `node:${string}`): T | undefined {
  const loaded: unknown = process.getBuiltinModule?.(name);
  if (loaded !== undefined || typeof require !== 'function') return loaded as T | undefined;
  try {
    return require(name) as T;
  } catch {
    return undefined; // esbuild's stand-in in an ES-module bundle ("Dynamic require ... is not supported")
  }
}
