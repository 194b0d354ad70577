/**
 * The system Vulkan probe is skipped when the loader would find no driver manifest (that probe can only fail, and the
 * loader's "Found no drivers" warnings are noise on a user's terminal); a normal CLI run prints nothing on stderr.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { systemVulkanManifests } from '../../src/device/node-gpu.js';

describe('systemVulkanManifests', () => {
  it('searches the loader folders in order, honouring the XDG variables', () => {
    const seen: string[] = [];
    const found = systemVulkanManifests({ HOME: '/home/u' }, (dir) => {
      seen.push(dir);
      return dir === '/usr/share/vulkan/icd.d' ? [`${dir}/nvidia_icd.json`] : [];
    });
    expect(seen).toEqual(['/etc/xdg/vulkan/icd.d', '/etc/vulkan/icd.d', '/home/u/.local/share/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/share/vulkan/icd.d']);
    expect(found).toEqual(['/usr/share/vulkan/icd.d/nvidia_icd.json']);
    const custom: string[] = [];
    systemVulkanManifests({ XDG_CONFIG_DIRS: '/c', XDG_DATA_HOME: '/d', XDG_DATA_DIRS: '/e:/f' }, (dir) => (custom.push(dir), []));
    expect(custom).toEqual(['/c/vulkan/icd.d', '/etc/vulkan/icd.d', '/d/vulkan/icd.d', '/e/vulkan/icd.d', '/f/vulkan/icd.d']);
  });
});

describe('a CLI run', () => {
  it('prints no driver noise on stderr (dist/awm.mjs, built by npm ci through prepare)', () => {
    expect(existsSync('dist/awm.mjs'), 'dist/awm.mjs is missing: npm run build:cli').toBe(true);
    const r = spawnSync(process.execPath, ['dist/awm.mjs', 'eval', '--model', 'web/demo-assets/model.safetensors', '--dataset', 'fashion-mnist', '--data-dir', 'data/fashion-mnist-subset', '--clean-only'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/clean accuracy: /);
    expect(r.stderr).toBe('');
  });
});
