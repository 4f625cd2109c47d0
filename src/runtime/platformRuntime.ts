import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The platforms onnxruntime-node ships a binary for, each packaged in its own VSIX (scripts/package.mjs). */
export const RUNTIME_TARGETS = ['linux-x64', 'linux-arm64', 'win32-x64', 'win32-arm64', 'darwin-arm64'] as const;

/**
 * Whether this installation has onnxruntime's binary for the machine it runs on: the target-less package has
 * none, so models (CodeT5, CodeBERT, PLBART) cannot run, while suggestions from the history (NNGen) and the
 * built-in risk model, which need no runtime, still work. `root` is the extension's (or package's) folder.
 */
export function runtimeStatus(
  root: string,
  platform: string = process.platform,
  arch: string = process.arch,
): { present: boolean; target: string; message: string | null } {
  const target = `${platform}-${arch}`;
  const present = existsSync(join(root, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', platform, arch, 'onnxruntime_binding.node'));
  if (present) return { present, target, message: null };
  const supported = (RUNTIME_TARGETS as readonly string[]).includes(target);
  return {
    present,
    target,
    message: supported
      ? `no model runtime for ${target} in this package: suggestions from your history and the built-in risk model \
work; CodeT5/CodeBERT models need changeling-${target}.vsix (the Marketplace installs it for you)`
      : `onnxruntime has no build for ${target}: suggestions from your history and the built-in risk model work here, models do not (they run on ${RUNTIME_TARGETS.join(', ')})`,
  };
}
