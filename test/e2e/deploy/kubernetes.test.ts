import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { typecheckConfig } from '../../../runtime/src/cli/typecheck-config.ts';
import { loadConfigFile, type LoadedConfig } from '../../../runtime/src/config/load-config.ts';
import { builtinPlugins } from '../../../runtime/src/plugins/builtins.ts';
import { checkFieldsKnown, describe as name, validateAgainstSchemas } from './k8s-schemas.ts';
import { kustomizeBuild, kustomizeVersion, type K8sObject } from './kustomize.ts';

// deploy/kubernetes as kustomize renders it (kustomize itself, never a re-implementation: it must
// be installed, see kustomize.ts), every object checked offline against the Kubernetes schemas,
// and the manifests checked against what the gateway does with the config they ship: the config
// is mounted the way the kubelet mounts the rendered ConfigMap and loaded with the container's
// environment, and the probes, ports and shutdown timing are compared with that loaded config.

const REPO = path.resolve(import.meta.dirname, '../../..');
const KUBERNETES = path.join(REPO, 'deploy/kubernetes');
const BASE = path.join(KUBERNETES, 'base');
const PRODUCTION = path.join(KUBERNETES, 'overlays/production');

/**
 * After the drain deadline the process still closes what is left and exits once its event loop
 * is empty: up to 2 s (exit-once-idle.ts) and 2.5 s for the last log lines on a slow stdout
 * (README, "Hot reload and shutdown"). The grace period must cover it, or the kubelet's SIGKILL
 * cuts the final log lines.
 */
const EXIT_AFTER_DEADLINE_S = 2.5;

/** Values for environment variables that come from a Secret or the downward API (`valueFrom`), which only a cluster resolves. */
const STAND_INS: Record<string, string> = {
  REDIS_URL: 'redis://redis.example.internal:6379',
  ISOGATE_JWT_SECRET: 'stand-in-secret-for-the-deploy-test-0123456789',
};

type Json = Record<string, unknown>;
interface Container extends Json {
  name: string;
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  securityContext?: Json;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
}
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface PodSpec {
  containers: Container[];
  securityContext?: Json;
  terminationGracePeriodSeconds?: number;
  volumes?: { name: string; configMap?: { name: string; items?: { key: string; path: string }[] } }[];
}
interface Workload extends K8sObject {
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}

const find = <T extends K8sObject>(objects: readonly K8sObject[], kind: string, objectName?: string): T => {
  const found = objects.filter((o) => o.kind === kind && (objectName === undefined || o.metadata.name === objectName));
  assert.equal(found.length, 1, `exactly one ${kind}${objectName ? ` named ${objectName}` : ''} in the rendering, found ${found.map(name).join(', ') || 'none'}`);
  return found[0] as T;
};
const workloads = (objects: readonly K8sObject[]) => objects.filter((o): o is Workload => o.kind === 'Deployment');
const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** A container port by number or by name. */
function containerPort(container: Container, port: number | string): number {
  if (typeof port === 'number') return port;
  const named = container.ports?.find((p) => p.name === port);
  assert.ok(named, `container ${container.name} has no port named ${port}`);
  return named.containerPort;
}

/** Kubernetes' CPU and memory quantities, in cores and bytes. */
function quantity(value: string | number): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?$/.exec(value);
  assert.ok(match, `unsupported quantity ${value}`);
  const scale: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
  return Number(match[1]) * (match[2] ? scale[match[2]]! : 1);
}

/** Seconds the preStop hook holds the pod: `sleep N` as an exec command, or the sleep action. */
function preStopSeconds(container: Container): number {
  const preStop = container.lifecycle?.preStop;
  assert.ok(preStop, `container ${container.name} has no preStop hook: the pod would get SIGTERM while load balancers still send it traffic`);
  if (preStop.sleep) return preStop.sleep.seconds;
  const command = preStop.exec?.command ?? [];
  assert.ok(command.length === 2 && command[0] === 'sleep' && /^\d+$/.test(command[1]!), `preStop is not a plain \`sleep N\`: ${JSON.stringify(command)}`);
  return Number(command[1]);
}

/** `--config <file>` from the container's args (the image's entrypoint is `isogate`). */
function configArg(container: Container): string {
  const args = container.args ?? [];
  assert.equal(args[0], 'start', `the container runs \`isogate start\`, args: ${JSON.stringify(args)}`);
  const i = args.indexOf('--config');
  assert.ok(i > 0 && args[i + 1], `the container passes --config, args: ${JSON.stringify(args)}`);
  return args[i + 1]!;
}

function gatewayParts(objects: readonly K8sObject[]) {
  const deployment = find<Workload>(objects, 'Deployment', 'isogate');
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c) => c.name === 'gateway');
  assert.ok(container, 'the isogate Deployment has a container named gateway');
  return { deployment, pod, container };
}

/** Lay out the gateway's config volume as the kubelet does: items at their paths, behind a `..data` symlink. */
async function mountConfigVolume(objects: readonly K8sObject[], target: string): Promise<string> {
  const { pod, container } = gatewayParts(objects);
  const file = configArg(container);
  const mount = container.volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `no volume is mounted where --config ${file} points`);
  assert.equal(mount.subPath, undefined, 'the config volume is mounted whole (a subPath mount would not follow ConfigMap updates)');
  const volume = pod.volumes?.find((v) => v.name === mount.name);
  assert.ok(volume?.configMap, `volume ${mount.name} is a configMap volume`);
  const configMap = find<K8sObject & { data: Record<string, string> }>(objects, 'ConfigMap', volume.configMap.name);
  const items = volume.configMap.items ?? Object.keys(configMap.data).map((key) => ({ key, path: key }));
  const stamp = '..2026_01_01_00_00_00.000000001';
  for (const item of items) {
    assert.ok(item.key in configMap.data, `the config volume maps key ${item.key}, which ConfigMap ${configMap.metadata.name} does not have`);
    const to = path.join(target, stamp, item.path);
    await fs.mkdir(path.dirname(to), { recursive: true });
    await fs.writeFile(to, configMap.data[item.key]!);
  }
  await fs.symlink(stamp, path.join(target, '..data'));
  for (const top of new Set(items.map((i) => i.path.split('/')[0]!))) await fs.symlink(path.join('..data', top), path.join(target, top));
  return path.join(target, path.relative(mount.mountPath, file));
}

/** The container's environment as the config sees it; `valueFrom` entries get a stand-in. */
function containerEnv(container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of container.env ?? []) {
    if (entry.valueFrom !== undefined) {
      const standIn = STAND_INS[entry.name];
      assert.ok(standIn !== undefined, `env ${entry.name} comes from valueFrom: add a stand-in value for it to STAND_INS in this test`);
      env[entry.name] = standIn;
    } else env[entry.name] = entry.value ?? '';
  }
  return env;
}

/** Files under `dir`, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

/** Rendered once, on first use: without kustomize every test fails with the install hint (none is skipped or cancelled). */
const once = <T>(make: () => Promise<T>): (() => Promise<T>) => {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
};
const renderBase = once(() => kustomizeBuild(BASE));
const renderProduction = once(() => kustomizeBuild(PRODUCTION));

describe('deploy/kubernetes renders and validates', () => {
  for (const dir of ['base', 'redis', 'overlays/production']) {
    test(`${dir}: every object passes the Kubernetes schemas, with no unknown field`, async () => {
      const objects = await kustomizeBuild(path.join(KUBERNETES, dir));
      const version = await kustomizeVersion();
      assert.ok(objects.length > 0, `${version} rendered nothing for ${dir}`);
      assert.deepEqual(await validateAgainstSchemas(objects), [], `${dir}, rendered by ${version}`);
      assert.deepEqual(checkFieldsKnown(objects), [], `${dir}, rendered by ${version}`);
    });
  }

  test('production has the gateway, its config, Service, autoscaler, disruption budget and Redis', async () => {
    const kinds = (await renderProduction()).map(name).sort();
    for (const expected of ['Deployment/isogate', 'Service/isogate', 'HorizontalPodAutoscaler/isogate', 'PodDisruptionBudget/isogate', 'Deployment/isogate-redis', 'Service/isogate-redis']) {
      assert.ok(kinds.includes(expected), `${expected} in ${kinds.join(', ')}`);
    }
    assert.ok(kinds.some((k) => /^ConfigMap\/isogate-config-[a-z0-9]+$/.test(k)), `a hashed isogate-config ConfigMap in ${kinds.join(', ')}`);
  });
});

describe('the manifests agree with each other', () => {
  for (const [label, objects] of [
    ['base', renderBase],
    ['production', renderProduction],
  ] as const) {
    test(`${label}: Services, the disruption budget and the autoscaler find the pods they name`, async () => {
      const all = await objects();
      for (const service of all.filter((o) => o.kind === 'Service') as (K8sObject & { spec: { selector: Record<string, string>; ports: { targetPort: number | string }[] } })[]) {
        const targets = workloads(all).filter((w) => selects(service.spec.selector, w.spec.template.metadata.labels));
        assert.equal(targets.length, 1, `Service ${service.metadata.name} selects the pods of exactly one Deployment`);
        const containers = targets[0]!.spec.template.spec.containers;
        for (const port of service.spec.ports) {
          assert.ok(containers.some((c) => c.ports?.some((p) => p.name === port.targetPort || p.containerPort === port.targetPort)), `Service ${service.metadata.name} targetPort ${port.targetPort} is a container port`);
        }
      }
      const { deployment } = gatewayParts(all);
      const labels = deployment.spec.template.metadata.labels;
      assert.ok(selects(deployment.spec.selector.matchLabels, labels), 'the Deployment selects its own pods');
      const pdb = find<K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } }>(all, 'PodDisruptionBudget', 'isogate');
      assert.ok(selects(pdb.spec.selector.matchLabels, labels), 'the PodDisruptionBudget selects the gateway pods');
      const hpa = find<K8sObject & { spec: { scaleTargetRef: { kind: string; name: string }; minReplicas: number; maxReplicas: number } }>(all, 'HorizontalPodAutoscaler', 'isogate');
      assert.deepEqual([hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name], ['Deployment', deployment.metadata.name]);
      assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas >= hpa.spec.minReplicas, `at least 2 replicas (min ${hpa.spec.minReplicas}, max ${hpa.spec.maxReplicas})`);
      assert.equal(deployment.spec.replicas, undefined, 'no replicas in the Deployment: the autoscaler owns the count, and each `kubectl apply` would reset it');
    });

    test(`${label}: every container runs as non-root on a read-only root filesystem, with requests and limits`, async () => {
      for (const workload of workloads(await objects())) {
        const pod = workload.spec.template.spec;
        for (const container of pod.containers) {
          const where = `${name(workload)} container ${container.name}`;
          const security = { ...pod.securityContext, ...container.securityContext } as Json;
          assert.equal(security['runAsNonRoot'], true, `${where}: runAsNonRoot`);
          assert.ok(typeof security['runAsUser'] === 'number' && security['runAsUser'] > 0, `${where}: a numeric non-root runAsUser`);
          assert.equal(container.securityContext?.['readOnlyRootFilesystem'], true, `${where}: readOnlyRootFilesystem`);
          assert.equal(container.securityContext?.['allowPrivilegeEscalation'], false, `${where}: allowPrivilegeEscalation false`);
          assert.deepEqual((container.securityContext?.['capabilities'] as { drop?: string[] } | undefined)?.drop, ['ALL'], `${where}: drops all capabilities`);
          for (const resource of ['cpu', 'memory']) {
            const request = container.resources?.requests?.[resource];
            const limit = container.resources?.limits?.[resource];
            assert.ok(request !== undefined && limit !== undefined, `${where}: ${resource} request and limit`);
            assert.ok(quantity(request) <= quantity(limit), `${where}: ${resource} request ${request} <= limit ${limit}`);
          }
        }
      }
    });
  }

  test('production: REDIS_URL names the Redis Service and its port', async () => {
    const production = await renderProduction();
    const { container } = gatewayParts(production);
    const url = new URL(containerEnv(container)['REDIS_URL'] ?? 'missing:');
    const service = find<K8sObject & { spec: { ports: { port: number }[] } }>(production, 'Service', url.hostname);
    assert.ok(service.spec.ports.some((p) => p.port === Number(url.port || 6379)), `Service ${url.hostname} serves port ${url.port}`);
  });

  test('production: the image is a pinned release, not latest', async () => {
    const { container } = gatewayParts(await renderProduction());
    const image = String(container['image']);
    const tag = /:([^/:@]+)$/.exec(image)?.[1];
    assert.ok(tag !== undefined && tag !== 'latest', `image ${image} has a tag other than latest`);
  });
});

describe('the manifests agree with the config they ship', () => {
  let dir: string | undefined;

  /** The production rendering, its config volume laid out and the config loaded from it with the container's environment. */
  const mounted = once(async () => {
    const production = await renderProduction();
    // Under the repository, as /app/config is under /app in the image: imports resolve from node_modules.
    dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-config-volume-'));
    const file = await mountConfigVolume(production, path.join(dir, 'config'));
    const env = containerEnv(gatewayParts(production).container);
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    let loaded: LoadedConfig;
    try {
      loaded = await loadConfigFile(file, builtinPlugins);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    return { production, file, loaded, ...gatewayParts(production) };
  });

  after(async () => {
    try {
      for (const host of (await mounted()).loaded.userPlugins.values()) host.dispose();
    } catch {
      // Nothing was loaded; the tests said why.
    }
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  test('the ConfigMap holds gateway.config.ts and every file of plugins/, each mounted at its place', async () => {
    const production = await renderProduction();
    const { pod } = gatewayParts(production);
    const volume = pod.volumes!.find((v) => v.configMap?.name.startsWith('isogate-config'))!;
    const configMap = find<K8sObject & { data: Record<string, string> }>(production, 'ConfigMap', volume.configMap!.name);
    assert.equal(configMap.data['gateway.config.ts'], await fs.readFile(path.join(BASE, 'gateway.config.ts'), 'utf8'), 'the ConfigMap carries base/gateway.config.ts');
    const items = volume.configMap!.items ?? [];
    for (const file of await filesUnder(path.join(BASE, 'plugins'))) {
      const item = items.find((i) => i.path === `plugins/${file}`);
      assert.ok(item, `plugins/${file} is mounted by the config volume (add it to configMapGenerator and to the volume's items)`);
      assert.equal(configMap.data[item.key], await fs.readFile(path.join(BASE, 'plugins', file), 'utf8'), `ConfigMap key ${item.key} holds plugins/${file}`);
    }
    for (const key of Object.keys(configMap.data)) assert.ok(items.some((i) => i.key === key), `ConfigMap key ${key} is mounted somewhere`);
  });

  test('the mounted config loads with the container environment, its local plugins included', async () => {
    const { loaded, file, pod, container } = await mounted();
    assert.ok(loaded.userPlugins.size > 0, 'the config uses a local plugin from the ConfigMap');
    const configDir = path.dirname(file);
    for (const read of loaded.files) assert.ok(read.startsWith(configDir + path.sep), `${read} was read from the mounted volume`);
    assert.ok(loaded.files.some((f) => f.includes(`${path.sep}plugins${path.sep}`)), `a plugin was read from plugins/ in the volume: ${loaded.files.join(', ')}`);
    const mountPath = container.volumeMounts!.find((m) => m.name === pod.volumes!.find((v) => v.configMap)!.name)!.mountPath;
    assert.ok(mountPath.startsWith('/app/'), `the config is mounted under /app (${mountPath}), where imports resolve from the image's node_modules`);
  });

  test('the mounted config type-checks (options of local plugins included)', async () => {
    assert.deepEqual(typecheckConfig((await mounted()).file), []);
  });

  test("probes ask the config's health paths on the port the gateway listens on", async () => {
    const { loaded, container } = await mounted();
    const { server } = loaded.config;
    assert.ok(['0.0.0.0', '::'].includes(server.host), `server.host ${server.host} accepts connections from outside the pod`);
    assert.ok(container.ports?.some((p) => p.containerPort === server.port), `a container port is server.port ${server.port}`);
    const probes = { readinessProbe: server.health.readiness, livenessProbe: server.health.liveness, startupProbe: server.health.liveness };
    for (const [probe, expected] of Object.entries(probes)) {
      const httpGet = (container[probe] as Probe | undefined)?.httpGet;
      assert.ok(httpGet, `${probe} is an httpGet probe`);
      assert.equal(httpGet.path, expected, `${probe} path`);
      assert.equal(containerPort(container, httpGet.port), server.port, `${probe} port`);
    }
  });

  test('terminationGracePeriodSeconds covers the preStop sleep, the drain deadline and the exit', async () => {
    const { loaded, pod, container } = await mounted();
    const shutdown = loaded.config.server.timeouts.shutdown / 1000;
    const preStop = preStopSeconds(container);
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    assert.ok(preStop > 0, 'the preStop sleep lets endpoints and load balancers drop the pod before SIGTERM');
    assert.ok(
      grace >= preStop + shutdown + EXIT_AFTER_DEADLINE_S,
      `terminationGracePeriodSeconds ${grace} < preStop ${preStop} s + timeouts.shutdown ${shutdown} s + ${EXIT_AFTER_DEADLINE_S} s to exit`,
    );
  });
});
