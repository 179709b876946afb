// Teardown's namespace delete (src/commands.ts kubectl.deleteNamespaceIf) against a real kube-apiserver: the API
// server itself refuses it when the namespace is not the object that was checked, and says NotFound when it is
// gone, which src/loops/teardown.ts tells apart by what kubectl prints.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { kubectl } from '../../src/commands.js';
import { ExecExecutor } from '../../src/executor.js';
import { requireTool } from '../support/tools.js';
import { ControlPlane, requireControlPlane } from './control-plane.js';

const binaries = requireControlPlane();
const kubectlBin = requireTool('kubectl');

describe.skipIf(binaries.skip || kubectlBin.skip)(
  'teardown deletes a namespace only if it is still the object checked',
  () => {
    let plane: ControlPlane;
    const exec = new ExecExecutor();
    const env = () => ({ KUBECONFIG: plane.kubeconfig });
    const run = (c: ReturnType<typeof kubectl.deleteNamespaceIf>) =>
      exec.run({ ...c, cmd: kubectlBin.path as string, silent: true });

    beforeAll(async () => {
      if (!binaries.etcd) return;
      plane = await ControlPlane.start(binaries);
    }, 120_000);

    afterAll(async () => {
      await plane?.stop();
    });

    async function look(name: string): Promise<{ uid: string; resourceVersion: string; deleting: boolean }> {
      const res = await plane.api('GET', `/api/v1/namespaces/${name}`);
      expect(res.status).toBe(200);
      const m = (
        res.body as { metadata: { uid: string; resourceVersion: string; deletionTimestamp?: string } }
      ).metadata;
      return { uid: m.uid, resourceVersion: m.resourceVersion, deleting: Boolean(m.deletionTimestamp) };
    }

    test('a stale UID or version is refused by the API server; the object checked is deleted; a gone one is NotFound', async () => {
      const name = 'jetscale-pr-4711';
      const created = await plane.api('POST', '/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {
          name,
          labels: { 'app.kubernetes.io/managed-by': 'jetscale-stack', 'jetscale.ai/pr': '4711' },
        },
      });
      expect(created.status).toBe(201);
      const checked = await look(name);
      // Someone relabels it after our check: its version moves on.
      const current = (await plane.api('GET', `/api/v1/namespaces/${name}`)).body as {
        metadata: { labels: Record<string, string> };
      };
      current.metadata.labels.team = 'x';
      const updated = await plane.api('PUT', `/api/v1/namespaces/${name}`, current);
      expect(updated.status).toBe(200);
      const now = await look(name);
      expect(now.resourceVersion).not.toBe(checked.resourceVersion);

      const stale = await run(kubectl.deleteNamespaceIf(name, checked.uid, checked.resourceVersion, env()));
      expect(stale.exitCode).not.toBe(0);
      expect(stale.stderr).toMatch(/Conflict|precondition/i);
      const otherUid = await run(
        kubectl.deleteNamespaceIf(name, '00000000-0000-0000-0000-000000000000', now.resourceVersion, env()),
      );
      expect(otherUid.exitCode).not.toBe(0);
      expect(otherUid.stderr).toMatch(/Conflict|precondition/i);
      expect((await look(name)).deleting).toBe(false);

      const ok = await run(kubectl.deleteNamespaceIf(name, now.uid, now.resourceVersion, env()));
      expect(ok.exitCode, ok.stderr).toBe(0);
      // No namespace controller runs here: the namespace stays Terminating, which is the delete accepted.
      expect((await look(name)).deleting).toBe(true);

      const gone = await run(
        kubectl.deleteNamespaceIf('jetscale-pr-4712', now.uid, now.resourceVersion, env()),
      );
      expect(gone.exitCode).not.toBe(0);
      expect(gone.stderr).toMatch(/NotFound|not found/i);
    });
  },
);
