/**
 * The deployment (issue 19): Dockerfile, deploy/compose.yaml and the Kubernetes overlays, checked
 * offline. kustomize renders each overlay (when kubectl is on the PATH; the rendering is also checked
 * in under deploy/k8s/rendered/), every object is validated against the Kubernetes API schemas
 * (kubernetes-models; custom resources by their documented required fields), and the image, the
 * compose file and the manifests must agree on user, port, entry point, health paths and grace time.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { builtCli } from '../helpers/built-cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OVERLAYS = ['single-node', 'ha'] as const;
const read = (path: string) => readFileSync(`${ROOT}${path}`, 'utf8');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- manifests are free-form
  data?: Record<string, string>;
}

function rendered(overlay: string): K8sObject[] {
  return parseAllDocuments(read(`deploy/k8s/rendered/${overlay}.yaml`)).map((doc) => doc.toJS() as K8sObject);
}

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

type Model = new (data: unknown) => { validate(): void };
/** kubernetes-models' module for each apiVersion the manifests use (a new one must be added here). */
const API_MODULES: Record<string, () => Promise<unknown>> = {
  v1: () => import('kubernetes-models/v1'),
  'apps/v1': () => import('kubernetes-models/apps/v1'),
  'networking.k8s.io/v1': () => import('kubernetes-models/networking.k8s.io/v1'),
  'policy/v1': () => import('kubernetes-models/policy/v1'),
  'autoscaling/v2': () => import('kubernetes-models/autoscaling/v2'),
};

async function modelClass(apiVersion: string, kind: string): Promise<Model | undefined> {
  const module = (await API_MODULES[apiVersion]?.()) as Record<string, Model> | undefined;
  return module?.[kind];
}

/** Custom resources kubernetes-models does not ship: the fields their operators require. */
const CUSTOM_RESOURCES: Record<string, (object: K8sObject) => void> = {
  'monitoring.coreos.com/v1/ServiceMonitor': (o) => {
    expect(o.spec?.selector?.matchLabels, 'ServiceMonitor.spec.selector').toBeTypeOf('object');
    expect(o.spec?.endpoints?.length, 'ServiceMonitor.spec.endpoints').toBeGreaterThan(0);
    for (const endpoint of o.spec!.endpoints) expect(endpoint.port ?? endpoint.targetPort, 'endpoint port').toBeDefined();
  },
  'traefik.io/v1alpha1/ServersTransport': (o) => {
    expect(o.spec?.forwardingTimeouts, 'ServersTransport.spec.forwardingTimeouts').toBeTypeOf('object');
  },
};

function only<T extends K8sObject>(objects: K8sObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0] as T;
}

/** The Dockerfile's final stage: its instructions by keyword (last one wins, as in Docker). */
function finalStage(): Map<string, string> {
  const lines = read('Dockerfile').replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const lastFrom = lines.map((l) => l.split(/\s+/)[0]!.toUpperCase()).lastIndexOf('FROM');
  const out = new Map<string, string>();
  for (const line of lines.slice(lastFrom)) {
    const [keyword, ...rest] = line.split(/\s+/);
    out.set(keyword!.toUpperCase(), rest.join(' '));
  }
  return out;
}

describe.each(OVERLAYS)('Kubernetes overlay %s', (overlay) => {
  it.runIf(kubectl)('renders with kustomize to exactly the checked-in deploy/k8s/rendered output (re-render after editing)', () => {
    const result = spawnSync('kubectl', ['kustomize', `deploy/k8s/overlays/${overlay}`], { cwd: ROOT, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(read(`deploy/k8s/rendered/${overlay}.yaml`));
  });

  it('validates every object against the Kubernetes API schemas', async () => {
    const objects = rendered(overlay);
    expect(objects.length).toBeGreaterThan(8);
    for (const object of objects) {
      const custom = CUSTOM_RESOURCES[`${object.apiVersion}/${object.kind}`];
      if (custom) {
        custom(object);
        continue;
      }
      const Model = await modelClass(object.apiVersion, object.kind);
      expect(Model, `a schema for ${object.apiVersion} ${object.kind}`).toBeDefined();
      expect(() => new Model!(object).validate(), `${object.kind} ${object.metadata.name}`).not.toThrow();
      expect(object.metadata.namespace ?? (object.kind === 'Namespace' ? 'flexi' : undefined), `${object.kind} namespace`).toBe('flexi');
    }
  });

  it('runs the gateway as the image expects: non-root, its port, its health paths, a grace period longer than the shutdown grace', () => {
    const objects = rendered(overlay);
    const deployment = only(objects, 'Deployment', 'flexi');
    const pod = deployment.spec!.template.spec;
    const container = pod.containers[0];
    const image = finalStage();
    expect(image.get('USER')).toBe('node');
    expect(pod.securityContext.runAsUser).toBe(1000); // the node user of the official Node images
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.ports[0].containerPort).toBe(Number(image.get('EXPOSE')));
    expect(image.get('ENTRYPOINT')).toBe('["node", "dist/main.js"]');
    expect(container.args[0]).toBe('serve');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(image.get('HEALTHCHECK')).toContain('/healthz');

    // The mounted flexi.yaml is a valid Flexi config, listening where the probes and the Service look.
    const configMap = only(objects, 'ConfigMap');
    expect(pod.volumes.find((v: { name: string }) => v.name === 'config').configMap.name).toBe(configMap.metadata.name);
    const config = loadConfig({ fileText: configMap.data!['flexi.yaml'] });
    expect(config.server.port).toBe(container.ports[0].containerPort);
    expect(config.server.host).toBe('0.0.0.0');
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.server.shutdown_grace_ms + pod.containers[0].lifecycle.preStop.sleep.seconds * 1000);
    // The data folder is writable: a volume at the image's working directory's ./data.
    expect(container.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toContain('/app/data');
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);

    const service = only(objects, 'Service', 'flexi');
    expect(service.spec!.ports[0].targetPort).toBe(container.ports[0].name);
    const ingress = only(objects, 'Ingress', 'flexi');
    expect(ingress.spec!.ingressClassName).toBe('traefik');
    expect(ingress.spec!.rules[0].http.paths[0].backend.service.name).toBe('flexi');
    const transport = only(objects, 'ServersTransport');
    expect(service.metadata.annotations?.['traefik.ingress.kubernetes.io/service.serverstransport']).toBe(`${transport.metadata.name}@kubernetescrd`);
    expect(transport.spec!.forwardingTimeouts.responseHeaderTimeout).toBe('0s');

    // Ollama on GPUs with a model volume, the agent on every GPU node.
    const ollama = only(objects, 'StatefulSet', 'ollama');
    expect(ollama.spec!.template.spec.containers[0].resources.limits['nvidia.com/gpu']).toBe(1);
    expect(ollama.spec!.volumeClaimTemplates[0].metadata.name).toBe('models');
    const agent = only(objects, 'DaemonSet', 'flexi-agent');
    expect(agent.spec!.template.spec.containers[0].image).toBe(container.image);
    expect(agent.spec!.template.spec.nodeSelector['nvidia.com/gpu.present']).toBe('true');
  });
}, 120_000);

describe('overlay shapes', () => {
  it('single-node: one replica on a volume, replaced (not rolled) so two pods never open the SQLite file, no autoscaler', () => {
    const objects = rendered('single-node');
    const deployment = only(objects, 'Deployment', 'flexi');
    expect(deployment.spec!.replicas).toBe(1);
    expect(deployment.spec!.strategy).toEqual({ type: 'Recreate' });
    const data = deployment.spec!.template.spec.volumes.find((v: { name: string }) => v.name === 'data');
    expect(data).toEqual({ name: 'data', persistentVolumeClaim: { claimName: only(objects, 'PersistentVolumeClaim').metadata.name } });
    expect(objects.some((o) => o.kind === 'HorizontalPodAutoscaler' || o.kind === 'PodDisruptionBudget')).toBe(false);
  });

  it('ha: three replicas spread over hosts on PostgreSQL and Redis from the Secret, autoscaled on queue length, a disruption budget', () => {
    const objects = rendered('ha');
    const deployment = only(objects, 'Deployment', 'flexi');
    expect(deployment.spec!.replicas).toBe(3);
    expect(deployment.spec!.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    const env = deployment.spec!.template.spec.containers[0].env as { name: string; valueFrom: { secretKeyRef: { name: string } } }[];
    expect(env.map((e) => e.name).sort()).toEqual(['FLEXI_DATABASE_URL', 'FLEXI_REDIS_URL']);
    expect(new Set(env.map((e) => e.valueFrom.secretKeyRef.name))).toEqual(new Set(['flexi-secrets']));
    expect(deployment.spec!.template.spec.topologySpreadConstraints[0].topologyKey).toBe('kubernetes.io/hostname');
    const hpa = only(objects, 'HorizontalPodAutoscaler', 'flexi');
    expect(hpa.spec!.minReplicas).toBe(3);
    expect(hpa.spec!.metrics[0].pods.metric.name).toBe('flexi_queue_length');
    expect(only(objects, 'PodDisruptionBudget', 'flexi').spec!.maxUnavailable).toBe(1);
  });
});

describe('the agent DaemonSet', () => {
  it('runs `flexi agent` with options the built CLI has, and probes a path the agent serves', () => {
    const agent = only(rendered('ha'), 'DaemonSet', 'flexi-agent');
    const container = agent.spec!.template.spec.containers[0];
    expect(container.args[0]).toBe('agent');
    const help = execFileSync(process.execPath, [builtCli(), 'agent', '--help'], { encoding: 'utf8' });
    for (const option of (container.args as string[]).filter((a) => a.startsWith('--'))) expect(help).toContain(option);
    expect(container.readinessProbe.httpGet.path).toBe('/healthz');
    expect(read('src/telemetry/gpu-agent.ts')).toContain("url.pathname === '/healthz'");
  });
}, 240_000);

describe('deploy/compose.yaml', () => {
  const compose = parse(read('deploy/compose.yaml')) as {
    services: Record<string, {
      image?: string; build?: { context: string; dockerfile: string }; command?: string[]; ports?: string[]; volumes?: string[];
      healthcheck?: { test: string[] }; depends_on?: Record<string, { condition: string }>; environment?: Record<string, string>;
      deploy?: { resources: { reservations: { devices: { driver: string; capabilities: string[] }[] } } }; stop_grace_period?: string;
    }>;
    volumes: Record<string, unknown>;
  };

  it('starts Flexi after healthy PostgreSQL, Redis and Ollama, each with a health check, and declares every named volume', () => {
    const { services } = compose;
    expect(Object.keys(services).sort()).toEqual(['flexi', 'ollama', 'postgres', 'redis']);
    for (const [name, service] of Object.entries(services)) expect(service.healthcheck?.test.length, `${name} healthcheck`).toBeGreaterThan(0);
    for (const [dependency, { condition }] of Object.entries(services.flexi!.depends_on ?? {})) {
      expect(services[dependency], dependency).toBeDefined();
      expect(condition).toBe('service_healthy');
    }
    for (const service of Object.values(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (!source.startsWith('.')) expect(compose.volumes, `volume ${source}`).toHaveProperty(source);
      }
    }
    expect(services.ollama!.deploy!.resources.reservations.devices[0]).toMatchObject({ driver: 'nvidia', capabilities: ['gpu'] });
  });

  it('builds the image from the Dockerfile, maps its port, mounts a valid flexi.yaml, and keeps secrets out of the file', () => {
    const flexi = compose.services.flexi!;
    expect(flexi.build).toEqual({ context: '..', dockerfile: 'Dockerfile' });
    const port = Number(finalStage().get('EXPOSE'));
    expect(flexi.ports).toEqual([`${port}:${port}`]);
    const mount = flexi.volumes!.find((v) => v.endsWith(':/etc/flexi/flexi.yaml:ro'))!;
    expect(flexi.command).toEqual(['serve', '--config', '/etc/flexi/flexi.yaml']);
    const config = loadConfig({ fileText: read(`deploy/${mount.split(':')[0]!.replace('./', '')}`) });
    expect(config.server.port).toBe(port);
    expect(flexi.volumes).toContain('flexi-data:/app/data');
    expect(Number.parseInt(flexi.stop_grace_period!, 10) * 1000).toBeGreaterThan(config.server.shutdown_grace_ms);
    // Every secret is a required variable from deploy/.env (`${NAME:?…}`), never a value in the file.
    for (const [name, value] of Object.entries(flexi.environment ?? {})) {
      if (/SECRET|TOKEN|PASSWORD/.test(name)) expect(value, name).toMatch(/^\$\{[A-Z_]+:\?/);
    }
    expect(flexi.environment!.FLEXI_DATABASE_URL).toMatch(/^postgres:\/\/flexi:\$\{POSTGRES_PASSWORD:\?/);
  });
});
