// The Kubernetes deployment (kubernetes/), checked without a cluster: every manifest is parsed
// (multi-document, YAML 1.1 as the API server reads it) and its invariants asserted against the
// ops-agent and the configuration it ships — volumes where hearth.yaml puts runDir/stateDir,
// probes on routes the admin API answers without a token, the example app's sockets, the
// security contexts, sizing, the NetworkPolicy, tokens from Secrets. Then the image is rebuilt as
// far as this machine allows: a real artifact goes through the Dockerfile's own unpack script,
// and that build runs the ConfigMap's configuration as the DaemonSet's uid (setpriv) in a temp
// dir laid out like the pod, while the kubelet's probes and the example app's own command (as the
// app's uid) talk to it. The sibling port runs with certificates made by kubernetes/siblings-tls.sh,
// and an SDK client configured like the example app (HEARTH_SIBLING_*) is served there by its app
// token. No kubectl/kubeconform in CI: nothing is downloaded.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { parseAllDocuments, parseDocument, visit } from 'yaml';
import { loadConfig } from '../../agent/config/load-config.js';
import { UNAUTHENTICATED_PROBE_ROUTES } from '../../ops-agent/admin-server.js';
import { siblingConnector, siblingsFromEnv, siblingTlsFromEnv } from '@hearth/sdk';
import { packageBuild, type BuiltArtifact } from '../helpers/artifact-builds.js';
import { killGroup, waitForExit } from '../support/child-process.js';
import { getUnix, makeTempDir, runHearthCli } from '../support/hearth-process.js';
import { freePort } from '../support/free-port.js';
import { repoRoot } from '../support/repo-root.js';
import { waitFor } from '../support/wait.js';

const run = promisify(execFile);
const K8S = path.join(repoRoot, 'kubernetes');

// ---- the manifests, typed as far as these tests read them ----

type Labels = Record<string, string>;
interface Meta { name?: string; namespace?: string; labels?: Labels }
interface SecurityContext {
  runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number; privileged?: boolean;
  allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean;
  capabilities?: { drop?: string[]; add?: string[] }; seccompProfile?: { type?: string };
  fsGroup?: number; supplementalGroups?: number[];
}
interface Probe { httpGet?: { path?: string; port?: string | number; scheme?: string; httpHeaders?: unknown[] } }
interface EnvVar { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath?: string }; secretKeyRef?: { name?: string; key?: string } } }
interface Container {
  name: string; image?: string; command?: string[]; args?: string[]; env?: EnvVar[];
  ports?: { name?: string; containerPort: number; hostPort?: number }[];
  readinessProbe?: Probe; livenessProbe?: Probe; startupProbe?: Probe;
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
}
interface Volume {
  name: string; hostPath?: { path: string; type?: string };
  configMap?: { name: string; defaultMode?: number; items?: unknown[] };
  secret?: { secretName: string; defaultMode?: number; items?: unknown[] };
  emptyDir?: unknown; projected?: unknown;
}
interface Service { metadata: Meta; spec: { clusterIP?: string; selector: Labels; publishNotReadyAddresses?: boolean; ports: { name?: string; port: number; targetPort: string | number }[] } }
type NetPeer = { podSelector?: { matchLabels?: Labels }; namespaceSelector?: { matchLabels?: Labels }; ipBlock?: unknown };
interface NetworkPolicy { metadata: Meta; spec: { podSelector: { matchLabels: Labels }; policyTypes: string[]; ingress: { from?: NetPeer[]; ports?: { port: number | string; protocol?: string }[] }[] } }
interface PodSpec {
  hostNetwork?: boolean; hostPID?: boolean; hostIPC?: boolean; terminationGracePeriodSeconds?: number;
  securityContext?: SecurityContext; initContainers?: Container[]; containers: Container[]; volumes?: Volume[];
}
interface Workload { kind: string; metadata: Meta; spec: { selector: { matchLabels: Labels }; updateStrategy?: { type?: string }; template: { metadata: Meta; spec: PodSpec } } }
interface K8sObject { apiVersion: string; kind: string; metadata: Meta; [field: string]: unknown }

interface Manifest { file: string; obj: K8sObject }

/** Every document of every kubernetes/*.yaml but kustomization.yaml; YAML 1.1 as the API server reads it (0440 is octal). */
async function manifests(): Promise<Manifest[]> {
  const out: Manifest[] = [];
  for (const file of (await readdir(K8S)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()) {
    for (const doc of parseAllDocuments(await readFile(path.join(K8S, file), 'utf8'), { version: '1.1' })) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const obj = doc.toJS() as K8sObject | null;
      if (obj !== null) out.push({ file, obj });
    }
  }
  return out;
}

async function one<T>(kind: string, name?: string): Promise<T> {
  const found = (await manifests()).filter((m) => m.obj.kind === kind && (name === undefined || m.obj.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!.obj as unknown as T;
}

const daemonSet = (): Promise<Workload> => one<Workload>('DaemonSet', 'hearth');
const exampleApp = (): Promise<Workload> => one<Workload>('Deployment', 'demo');
const agentContainer = async (): Promise<Container> => (await daemonSet()).spec.template.spec.containers.find((c) => c.name === 'hearth')!;

/** The ConfigMap's hearth.yaml, as text and as the raw object the agent's YAML parser sees. */
async function shippedConfig(): Promise<{ text: string; raw: RawConfig }> {
  const cm = await one<K8sObject & { data: Record<string, string> }>('ConfigMap', 'hearth-config');
  const text = cm.data['hearth.yaml'];
  if (text === undefined) throw new Error('ConfigMap hearth-config has no hearth.yaml');
  return { text, raw: parseDocument(text).toJS() as RawConfig };
}
interface RawConfig {
  runDir: string; stateDir: string; workers: number; upgrade: { drainTimeoutMs: number };
  admin: { tcp: { host: string; port: number; token?: string; tokenFile?: string; tokenSha256?: string } };
  siblings: {
    agentId: string; listen: { host: string; port: number };
    tls: { certFile: string; keyFile: string; caFile: string; requireClientCert: boolean; serverName: string };
    token?: string; tokenFile?: string; tokenSha256?: string;
    peers: { name?: string; host: string; port: number }[]; registry?: string;
  };
  apps: { id: string; token?: string; tokenFile?: string; tokenSha256?: string }[];
}

async function secretData(name: string): Promise<Record<string, string>> {
  const s = await one<K8sObject & { stringData?: Record<string, string>; data?: Record<string, string> }>('Secret', name);
  const decoded = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  return { ...decoded, ...(s.stringData ?? {}) };
}

function mountOf(c: Container, volume: string): string | undefined {
  return c.volumeMounts?.find((m) => m.name === volume)?.mountPath;
}

/** Kubernetes quantities this deployment uses, in MiB. */
function mib(q: string | number | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(Mi|Gi|M|G)?$/.exec(String(q ?? ''));
  if (!m) throw new Error(`unsupported quantity ${String(q)}`);
  const n = Number(m[1]);
  return { Mi: n, Gi: n * 1024, M: (n * 1e6) / 2 ** 20, G: (n * 1e9) / 2 ** 20 }[m[2] ?? ''] ?? n / 2 ** 20;
}

// ---- static invariants ----

const KNOWN_KINDS: Readonly<Record<string, string>> = {
  Namespace: 'v1', ServiceAccount: 'v1', ConfigMap: 'v1', Secret: 'v1', Service: 'v1',
  DaemonSet: 'apps/v1', Deployment: 'apps/v1', NetworkPolicy: 'networking.k8s.io/v1',
};

test('every manifest parses (multi-document aware) with a known kind and apiVersion, a name, and a namespace the deployment creates', async (t) => {
  const all = await manifests();
  t.true(all.length >= 10);
  const namespaces = all.filter((m) => m.obj.kind === 'Namespace').map((m) => m.obj.metadata.name);
  for (const { file, obj } of all) {
    t.is<string | undefined, string | undefined>(obj.apiVersion, KNOWN_KINDS[obj.kind], `${file}: ${obj.kind} ${obj.apiVersion}`);
    t.truthy(obj.metadata.name, file);
    if (obj.kind !== 'Namespace') t.true(namespaces.includes(obj.metadata.namespace), `${file}: namespace ${obj.metadata.namespace}`);
  }
  t.deepEqual([...new Set(all.map((m) => m.obj.kind))].sort(), Object.keys(KNOWN_KINDS).sort());
});

test('kustomization.yaml lists every manifest file, and nothing that does not exist', async (t) => {
  const k = parseDocument(await readFile(path.join(K8S, 'kustomization.yaml'), 'utf8')).toJS() as { apiVersion: string; kind: string; resources: string[]; images?: { name: string }[] };
  t.is(k.apiVersion, 'kustomize.config.k8s.io/v1beta1');
  t.is(k.kind, 'Kustomization');
  const files = (await readdir(K8S)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
  t.deepEqual([...k.resources].sort(), files);
  // The image the manifests name is the one kustomize rewrites to a registry.
  const images = new Set([(await agentContainer()).image, ...((await daemonSet()).spec.template.spec.initContainers ?? []).map((c) => c.image)]);
  t.deepEqual([...images], ['hearth']);
  t.deepEqual(k.images?.map((i) => i.name), ['hearth']);
});

test('the DaemonSet updates OnDelete and runs `hearth start --config /etc/hearth/hearth.yaml`, which the image links into the ConfigMap volume', async (t) => {
  const ds = await daemonSet();
  t.is(ds.spec.updateStrategy?.type, 'OnDelete');
  t.deepEqual(pick(ds.spec.template.metadata.labels ?? {}, Object.keys(ds.spec.selector.matchLabels)), ds.spec.selector.matchLabels);
  const c = await agentContainer();
  t.deepEqual(c.args, ['start', '--config', '/etc/hearth/hearth.yaml']);
  const dockerfile = await readFile(path.join(K8S, 'Dockerfile'), 'utf8');
  t.regex(dockerfile, /ln -s config\/hearth\.yaml \/etc\/hearth\/hearth\.yaml/);
  const configVolume = ds.spec.template.spec.volumes?.find((v) => v.name === 'config');
  t.is(configVolume?.configMap?.name, 'hearth-config');
  t.is(configVolume?.configMap?.items, undefined, 'the whole ConfigMap, so updates reach the pod');
  t.is(mountOf(c, 'config'), '/etc/hearth/config');
});

test('hostPath /run/hearth and /var/lib/hearth are mounted at the runDir and stateDir the ConfigMap says', async (t) => {
  const { raw } = await shippedConfig();
  const ds = await daemonSet();
  const c = await agentContainer();
  const volumes = ds.spec.template.spec.volumes ?? [];
  for (const [name, dir] of [['run', raw.runDir], ['state', raw.stateDir]] as const) {
    const v = volumes.find((x) => x.name === name);
    t.is(v?.hostPath?.path, dir, name);
    t.is(v?.hostPath?.type, 'DirectoryOrCreate', name);
    t.is(mountOf(c, name), dir, `${name} is mounted where the agent looks`);
    t.is(c.volumeMounts?.find((m) => m.name === name)?.subPath, undefined);
  }
  t.deepEqual([raw.runDir, raw.stateDir], ['/run/hearth', '/var/lib/hearth']);
  // Exactly these two host paths: nothing else of the node is visible to the agent.
  t.deepEqual(volumes.filter((v) => v.hostPath).map((v) => v.hostPath!.path).sort(), ['/run/hearth', '/var/lib/hearth']);
});

const DOWNWARD_ENV = { POD_IP: '10.0.0.7', NODE_NAME: 'node-a' };

test('the ConfigMap hearth.yaml passes `hearth validate` with its Secret files in place (tokens, cluster token, sibling TLS)', async (t) => {
  const dir = await tempDir();
  const { configPath } = await podLayout(dir, { port: 7080 });
  const r = await runHearthCli(['validate', '--config', configPath], { env: DOWNWARD_ENV });
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /^OK .*: 1 app\(s\), 4 component\(s\), 2 worker\(s\)/);
  // ${POD_IP} and ${NODE_NAME} are required: without the downward-API variables the file is refused, not bound to a default.
  const without = await runHearthCli(['validate', '--config', configPath]);
  t.is(without.code, 1);
  t.regex(without.stdout + without.stderr, /admin\.tcp\.host: environment variable POD_IP is not set/);
  t.regex(without.stdout + without.stderr, /siblings\.agentId: environment variable NODE_NAME is not set/);
  t.regex(without.stdout + without.stderr, /siblings\.listen\.host: environment variable POD_IP is not set/);
});

test('siblings: the agent listens on ${POD_IP} at the container port the headless Service targets, as ${NODE_NAME}, with TLS and the cluster token from the Secrets mounted where the config points', async (t) => {
  const { raw, text } = await shippedConfig();
  const ds = await daemonSet();
  const c = await agentContainer();
  const sibling = c.ports?.find((p) => p.name === 'sibling');
  t.is<number | undefined, number | undefined>(raw.siblings.listen.port, sibling?.containerPort, 'siblings.listen.port is the declared containerPort');
  t.is(raw.siblings.listen.host, '${POD_IP}');
  t.is(raw.siblings.agentId, '${NODE_NAME}');
  t.is(c.env?.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
  const svc = await one<Service>('Service', 'hearth-siblings');
  const svcPort = svc.spec.ports.find((p) => p.targetPort === sibling?.name || p.targetPort === sibling?.containerPort);
  t.truthy(svcPort, 'the Service targets the sibling port');

  // The TLS files and the token file lie in read-only mounts of whole Secrets, mode 0440.
  const volumes = ds.spec.template.spec.volumes ?? [];
  const secretDir = (secretName: string): string => {
    const v = volumes.find((x) => x.secret?.secretName === secretName);
    t.truthy(v, secretName);
    t.is(v?.secret?.items, undefined, `${secretName}: whole Secret, so a renewed file reaches running pods`);
    t.is(v?.secret?.defaultMode, 0o440, secretName);
    const m = c.volumeMounts?.find((x) => x.name === v?.name);
    t.true(m?.readOnly, secretName);
    t.is(m?.subPath, undefined, secretName);
    return m?.mountPath ?? '';
  };
  const tlsDir = secretDir('hearth-siblings-tls');
  const tls = raw.siblings.tls;
  t.deepEqual([tls.certFile, tls.keyFile, tls.caFile], ['tls.crt', 'tls.key', 'ca.crt'].map((k) => path.posix.join(tlsDir, k)));
  t.is(raw.siblings.tokenFile, path.posix.join(secretDir('hearth-cluster-token'), 'token'));
  t.is(raw.siblings.token, undefined);
  t.is(raw.siblings.tokenSha256, undefined);
  const cluster = (await secretData('hearth-cluster-token')).token ?? '';
  t.regex(cluster, /^EXAMPLE-ONLY-/);
  t.false(text.includes(cluster));
  // No committed private key: hearth-siblings-tls is made per installation by siblings-tls.sh.
  t.false((await manifests()).some((m) => m.obj.kind === 'Secret' && m.obj.metadata.name === 'hearth-siblings-tls'));
  t.false(/PRIVATE KEY/.test(await readFile(path.join(K8S, 'kustomization.yaml'), 'utf8')));

  // Apps fail over to this port with their app token and no client certificate (see the README).
  t.false(tls.requireClientCert);
  // The static sibling is the headless Service, on its port; the certificate names it.
  t.deepEqual(raw.siblings.peers.map((p) => [p.host, p.port]), [[`${svc.metadata.name}.${svc.metadata.namespace}.svc`, svcPort?.port]]);
  t.is(tls.serverName, `${svc.metadata.name}.${svc.metadata.namespace}.svc`);
  const { dir } = await siblingsTls();
  const { stdout } = await run('openssl', ['x509', '-in', path.join(dir, 'tls.crt'), '-noout', '-ext', 'subjectAltName,extendedKeyUsage']);
  t.true(stdout.includes(`DNS:${tls.serverName}`), stdout);
  t.regex(stdout, /TLS Web Server Authentication, TLS Web Client Authentication/, 'served, and presented to other agents');
  await t.notThrowsAsync(run('openssl', ['verify', '-CAfile', path.join(dir, 'ca.crt'), '-purpose', 'sslclient', path.join(dir, 'tls.crt')]));

  // What the agent resolves from it, in the pod layout.
  const layout = await tempDir();
  const { configPath } = await podLayout(layout, { port: 7080 });
  const config = await loadConfig(configPath, { env: DOWNWARD_ENV });
  t.is(config.siblings.agentId, 'node-a');
  t.deepEqual(config.siblings.listen, { host: '10.0.0.7', port: sibling?.containerPort });
  t.deepEqual(config.siblings.advertise, { host: '10.0.0.7', port: sibling?.containerPort });
  t.is(config.siblings.clusterToken, cluster);
});

test('probes: GET paths the admin API answers without a token, on the container port the config binds to ${POD_IP}', async (t) => {
  const c = await agentContainer();
  const { raw } = await shippedConfig();
  const probes = [c.readinessProbe, c.livenessProbe, c.startupProbe].filter((p): p is Probe => p !== undefined);
  t.true(probes.length >= 2);
  t.is(c.readinessProbe?.httpGet?.path, '/readyz');
  t.is(c.livenessProbe?.httpGet?.path, '/healthz');
  for (const p of probes) {
    t.true(UNAUTHENTICATED_PROBE_ROUTES.includes(p.httpGet?.path ?? ''), p.httpGet?.path);
    t.is(p.httpGet?.scheme ?? 'HTTP', 'HTTP');
    t.is(p.httpGet?.httpHeaders, undefined, 'no token in the manifest');
    const port = c.ports?.find((x) => x.name === p.httpGet?.port || x.containerPort === p.httpGet?.port);
    t.is(port?.containerPort, raw.admin.tcp.port);
  }
  t.is(raw.admin.tcp.host, '${POD_IP}');
  t.is(c.env?.find((e) => e.name === 'POD_IP')?.valueFrom?.fieldRef?.fieldPath, 'status.podIP');
});

test('the example app mounts only its own socket directory, read-only, and its socket paths are the agent\'s for an app the config declares', async (t) => {
  const app = await exampleApp();
  const { raw } = await shippedConfig();
  const pod = app.spec.template.spec;
  const c = pod.containers[0]!;
  const appId = c.env?.find((e) => e.name === 'HEARTH_APP_ID')?.value ?? '';
  t.true(raw.apps.some((a) => a.id === appId), `app ${appId} is declared in hearth.yaml`);
  const hostPaths = (pod.volumes ?? []).filter((v) => v.hostPath);
  t.is(hostPaths.length, 1);
  const v = hostPaths[0]!;
  t.is(v.hostPath?.path, path.posix.join(raw.runDir, 'apps', appId));
  t.is(v.hostPath?.type, 'Directory', 'the agent creates it; the kubelet must not (as root)');
  const mount = c.volumeMounts?.find((m) => m.name === v.name);
  t.truthy(mount);
  t.is(mount?.subPath, undefined);
  t.true(mount?.readOnly);
  // The env's socket paths lie in the mount and name the files the agent binds for this app.
  const dir = await tempDir();
  const { configPath } = await podLayout(dir, { port: 7080 });
  const config = await loadConfig(configPath, { env: DOWNWARD_ENV });
  const declared = config.apps.find((a) => a.id === appId)!;
  for (const [name, file] of [['HEARTH_HTTP_SOCKET', declared.httpSocket], ['HEARTH_GRPC_SOCKET', declared.grpcSocket]] as const) {
    const value = c.env?.find((e) => e.name === name)?.value ?? '';
    t.true(value.startsWith(`${mount!.mountPath}/`), `${name}=${value}`);
    t.is(path.posix.join(v.hostPath!.path, path.posix.relative(mount!.mountPath, value)), `/${path.relative(dir, file)}`, name);
  }
  const token = c.env?.find((e) => e.name === 'HEARTH_TOKEN')?.valueFrom?.secretKeyRef;
  t.is(token?.name, 'demo-hearth-token');
  t.is((await secretData('demo-hearth-token'))[token?.key ?? ''], (await secretData('hearth-app-tokens'))[appId], 'the app sends the token the agent checks');
  // The agent's gid: search permission on the 0750 directory and write on the 0660 sockets.
  const agentGid = (await daemonSet()).spec.template.spec.securityContext?.runAsGroup;
  t.true(pod.securityContext?.supplementalGroups?.includes(agentGid ?? -1));
});

const CONTAINER_SC = new Set(['allowPrivilegeEscalation', 'appArmorProfile', 'capabilities', 'privileged', 'procMount', 'readOnlyRootFilesystem', 'runAsGroup', 'runAsNonRoot', 'runAsUser', 'seLinuxOptions', 'seccompProfile', 'windowsOptions']);
const POD_SC = new Set(['appArmorProfile', 'fsGroup', 'fsGroupChangePolicy', 'runAsGroup', 'runAsNonRoot', 'runAsUser', 'seLinuxChangePolicy', 'seLinuxOptions', 'seccompProfile', 'supplementalGroups', 'supplementalGroupsPolicy', 'sysctls', 'windowsOptions']);

test('no container is privileged; every container runs as non-root, without privilege escalation, with ALL capabilities dropped (the one root init step is held to chown)', async (t) => {
  for (const w of [await daemonSet(), await exampleApp()]) {
    const pod = w.spec.template.spec;
    t.falsy(pod.hostNetwork, w.kind);
    t.falsy(pod.hostPID, w.kind);
    t.falsy(pod.hostIPC, w.kind);
    const psc = pod.securityContext ?? {};
    // No kubeconform here: a misspelt field would be dropped without a word, weakening the pod.
    for (const k of Object.keys(psc)) t.true(POD_SC.has(k), `${w.kind} pod securityContext.${k}`);
    t.true(psc.runAsNonRoot, w.kind);
    t.true((psc.runAsUser ?? 0) > 0 && (psc.runAsGroup ?? 0) > 0, w.kind);
    t.is(psc.seccompProfile?.type, 'RuntimeDefault', w.kind);
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      const sc = c.securityContext ?? {};
      for (const k of Object.keys(sc)) t.true(CONTAINER_SC.has(k), `${c.name} securityContext.${k}`);
      t.false(sc.privileged ?? false, c.name);
      t.is(sc.allowPrivilegeEscalation, false, c.name);
      t.true(sc.readOnlyRootFilesystem, c.name);
      t.deepEqual(sc.capabilities?.drop, ['ALL'], c.name);
      for (const p of c.ports ?? []) t.is(p.hostPort, undefined, `${c.name} port ${p.containerPort}`);
      if (c.name === 'prepare-host-dirs') {
        // The exception, exactly: root with CHOWN/FOWNER, touching only the two host directories.
        t.deepEqual(sc.capabilities?.add, ['CHOWN', 'FOWNER']);
        t.is(sc.runAsUser, 0);
        t.deepEqual(c.command?.slice(0, 2), ['/bin/sh', '-c']);
        t.regex(c.command?.[2] ?? '', /^chown (\d+):(\d+) \/run\/hearth \/var\/lib\/hearth && chmod 0755 \/run\/hearth && chmod 0700 \/var\/lib\/hearth$/);
        t.true(c.command?.[2]?.startsWith(`chown ${psc.runAsUser}:${psc.runAsGroup} `));
      } else {
        t.true(sc.runAsNonRoot ?? psc.runAsNonRoot, c.name);
        t.not(sc.runAsUser ?? psc.runAsUser, 0, c.name);
        t.is(sc.capabilities?.add, undefined, c.name);
      }
    }
  }
});

// docs/performance.md, "Memory" (idle agent: 269.5 MB with workers of ~95 MB; peak of both
// generations during 5 upgrades under load: 561.5 MB) and a `hearth` CLI process (~80 MB, run by
// `kubectl exec` inside the container's cgroup).
const IDLE_WORKER_MB = 95;
const OPS_AGENT_MB = 269.5 - 2 * 95;
const MEASURED_UPGRADE_PEAK_MB = 561.5;
const CLI_MB = 80;

test('the memory limit holds two generations of workers plus the ops-agent and a CLI run, and the request equals it', async (t) => {
  const { raw } = await shippedConfig();
  const r = (await agentContainer()).resources;
  const limit = mib(r?.limits?.memory);
  const twoGenerations = 2 * raw.workers * IDLE_WORKER_MB + OPS_AGENT_MB;
  t.true(limit >= Math.max(twoGenerations, MEASURED_UPGRADE_PEAK_MB) + CLI_MB, `limit ${limit} MiB, two generations ${twoGenerations} MB, measured peak ${MEASURED_UPGRADE_PEAK_MB} MB`);
  t.is(mib(r?.requests?.memory), limit, 'the upgrade peak is reserved, and usage never exceeds the request');
  t.is(r?.limits?.cpu, undefined, 'no CPU throttling of the node runtime');
  t.truthy(r?.requests?.cpu);
});

test('terminationGracePeriodSeconds is above the drain deadline', async (t) => {
  const { raw } = await shippedConfig();
  const grace = (await daemonSet()).spec.template.spec.terminationGracePeriodSeconds ?? 30;
  t.true(grace * 1000 > raw.upgrade.drainTimeoutMs, `${grace} s vs drainTimeoutMs ${raw.upgrade.drainTimeoutMs}`);
  // …and above the drain deadline plus the ops-agent's 10 s shutdown bound for workers.
  t.true(grace * 1000 > raw.upgrade.drainTimeoutMs + 10_000);
});

test('the NetworkPolicy selects the DaemonSet pods and admits only the sibling port: from Hearth agents, and from labelled app pods in labelled namespaces (the example app)', async (t) => {
  const np = await one<K8sObject & NetworkPolicy>('NetworkPolicy');
  const ds = await daemonSet();
  const podLabels = ds.spec.template.metadata.labels ?? {};
  t.is(np.metadata.namespace, ds.metadata.namespace);
  t.deepEqual(pick(podLabels, Object.keys(np.spec.podSelector.matchLabels)), np.spec.podSelector.matchLabels, 'selects the agents');
  t.deepEqual(np.spec.policyTypes, ['Ingress']);
  const sibling = (await agentContainer()).ports?.find((p) => p.name === 'sibling')?.containerPort;
  t.is(sibling, 7443);
  t.is(np.spec.ingress.length, 2);
  for (const rule of np.spec.ingress) {
    t.deepEqual(rule.ports, [{ port: sibling, protocol: 'TCP' }], 'the sibling port and no other (not the admin port)');
    t.is(rule.from?.length, 1);
    t.is(rule.from![0]!.ipBlock, undefined);
  }
  // Rule 1: the other agents, in the policy's namespace only.
  const agents = np.spec.ingress[0]!.from![0]!;
  t.is(agents.namespaceSelector, undefined, 'peers in the policy\'s namespace only');
  t.deepEqual(pick(podLabels, Object.keys(agents.podSelector?.matchLabels ?? {})), agents.podSelector?.matchLabels);
  t.deepEqual(agents.podSelector?.matchLabels, ds.spec.selector.matchLabels);
  // Rule 2: app pods that may fail over — namespace AND pod selected (one peer entry, not two).
  const apps = np.spec.ingress[1]!.from![0]!;
  t.true(Object.keys(apps.namespaceSelector?.matchLabels ?? {}).length > 0, 'not every namespace');
  t.true(Object.keys(apps.podSelector?.matchLabels ?? {}).length > 0, 'not every pod of those namespaces');
  const demoNs = await one<K8sObject>('Namespace', 'hearth-demo');
  const appLabels = (await exampleApp()).spec.template.metadata.labels ?? {};
  t.deepEqual(pick(demoNs.metadata.labels ?? {}, Object.keys(apps.namespaceSelector!.matchLabels!)), apps.namespaceSelector!.matchLabels, 'the example app\'s namespace is admitted');
  t.deepEqual(pick(appLabels, Object.keys(apps.podSelector!.matchLabels!)), apps.podSelector!.matchLabels, 'the example app\'s pods are admitted');
  const agentNs = await one<K8sObject>('Namespace', ds.metadata.namespace);
  t.notDeepEqual(pick(agentNs.metadata.labels ?? {}, Object.keys(apps.namespaceSelector!.matchLabels!)), apps.namespaceSelector!.matchLabels, 'the agents\' namespace is not an app namespace');
});

test('the example app fails over to the headless Service on the sibling port, verifying the agents\' certificate with the CA and the name the agents use', async (t) => {
  const app = await exampleApp();
  const c = app.spec.template.spec.containers[0]!;
  const env = (name: string): string | undefined => c.env?.find((e) => e.name === name)?.value;
  const svc = await one<Service>('Service', 'hearth-siblings');
  const { raw } = await shippedConfig();
  t.is(env('HEARTH_SIBLINGS'), `${svc.metadata.name}.${svc.metadata.namespace}.svc:${svc.spec.ports[0]!.port}`);
  t.deepEqual(siblingsFromEnv({ HEARTH_SIBLINGS: env('HEARTH_SIBLINGS') }).map((e) => [e.host, e.port]), [[`${svc.metadata.name}.${svc.metadata.namespace}.svc`, 7443]]);
  t.is(env('HEARTH_SIBLING_SERVERNAME'), raw.siblings.tls.serverName);
  // The CA from a ConfigMap of the app's namespace, mounted read-only where the variable points.
  const ca = env('HEARTH_SIBLING_CA') ?? '';
  const v = app.spec.template.spec.volumes?.find((x) => x.configMap?.name === 'hearth-siblings-ca');
  t.truthy(v);
  const m = c.volumeMounts?.find((x) => x.name === v?.name);
  t.true(m?.readOnly);
  t.is(ca, path.posix.join(m?.mountPath ?? '', 'ca.crt'));
  // No client certificate: the agents' CA signs agents only (a certificate from it is an agent's credential).
  t.is(env('HEARTH_SIBLING_CERT'), undefined);
  t.is(env('HEARTH_SIBLING_KEY'), undefined);
});

test('the headless Service hearth-siblings selects the agents and targets the sibling port', async (t) => {
  const svc = await one<Service>('Service', 'hearth-siblings');
  const ds = await daemonSet();
  t.is(svc.spec.clusterIP, 'None');
  t.deepEqual(svc.spec.selector, ds.spec.selector.matchLabels);
  t.falsy(svc.spec.publishNotReadyAddresses, 'only ready agents are offered as siblings');
  t.deepEqual(svc.spec.ports.map((p) => [p.port, p.targetPort]), [[7443, 'sibling']]);
});

test('tokens come from Secrets, never inline in the ConfigMap; example values are marked as such', async (t) => {
  const { raw, text } = await shippedConfig();
  const ds = await daemonSet();
  const c = await agentContainer();
  const volumes = ds.spec.template.spec.volumes ?? [];
  const secretMount = (secretName: string): string => {
    const v = volumes.find((x) => x.secret?.secretName === secretName);
    t.truthy(v, secretName);
    t.is(v?.secret?.items, undefined, `${secretName}: whole Secret, so a key added later reaches running pods`);
    t.is(v?.secret?.defaultMode, 0o440, `${secretName}: readable by the agent's group only`);
    return mountOf(c, v?.name ?? '') ?? '';
  };
  const appTokens = await secretData('hearth-app-tokens');
  const tokensDir = secretMount('hearth-app-tokens');
  for (const app of raw.apps) {
    t.is(app.token, undefined, app.id);
    t.is(app.tokenSha256, undefined, app.id);
    t.is(app.tokenFile, path.posix.join(tokensDir, app.id), app.id);
    t.truthy(appTokens[app.id], `hearth-app-tokens has a key for ${app.id}`);
  }
  t.is(raw.admin.tcp.token, undefined);
  t.is(raw.admin.tcp.tokenFile, path.posix.join(secretMount('hearth-admin-token'), 'token'));
  const admin = await secretData('hearth-admin-token');
  for (const [name, value] of [...Object.entries(appTokens), ['admin', admin.token ?? ''] as const]) {
    t.false(text.includes(value), `${name}'s token does not appear in the ConfigMap`);
    t.regex(value, /^EXAMPLE-ONLY-/, `${name}: an example value, marked`);
    t.true(value.length >= 16);
  }
  t.regex((await secretData('demo-hearth-token')).token ?? '', /^EXAMPLE-ONLY-/);
});

test('Dockerfile: FROM node 20 bookworm-slim, numeric non-root USER = the DaemonSet uid, no ADD of URLs, sha256 verified before unpacking', async (t) => {
  const text = await readFile(path.join(K8S, 'Dockerfile'), 'utf8');
  const lines = text.split('\n').filter((l) => !l.startsWith('#'));
  const froms = lines.filter((l) => /^FROM\s/i.test(l));
  t.is(froms.length, 2, 'multi-stage');
  for (const f of froms) t.regex(f, /^FROM node:20-bookworm-slim(@sha256:[0-9a-f]{64})?( AS \w+)?$/);
  t.false(lines.some((l) => /^ADD\s/i.test(l)), 'COPY only: ADD could fetch a URL or unpack without a check');
  const users = lines.filter((l) => /^USER\s/.test(l));
  t.is(users.length, 1);
  const psc = (await daemonSet()).spec.template.spec.securityContext;
  t.is(users[0], `USER ${psc?.runAsUser}:${psc?.runAsGroup}`);
  t.true((psc?.runAsUser ?? 0) > 0);
  // The last stage ends with USER, then ENTRYPOINT/CMD: nothing runs as root after it.
  const tail = lines.slice(lines.indexOf(users[0]!)).filter((l) => /^[A-Z]+\s/.test(l)).map((l) => l.split(/\s/)[0]);
  t.deepEqual(tail, ['USER', 'ENTRYPOINT', 'CMD']);
  t.regex(text, /^ARG HEARTH_SHA256$/m, 'no default checksum');
  t.regex(text, /unpack-artifact\.sh \/tmp\/hearth\.tgz "\$\{HEARTH_SHA256\}" \/opt\/hearth/);
  const script = await readFile(path.join(K8S, 'unpack-artifact.sh'), 'utf8');
  t.true(script.indexOf('sha256sum -c') > 0 && script.indexOf('sha256sum -c') < script.indexOf('tar -x'), 'sha256 before tar');
});

// ---- the image's build, run as the pod would run it ----

const cleanup: (() => Promise<void> | void)[] = [];
test.after.always(async () => {
  for (const f of cleanup.reverse()) await f();
});

const dirs = new Set<string>();
async function tempDir(): Promise<string> {
  const dir = await makeTempDir();
  dirs.add(dir);
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

let tlsMade: Promise<{ dir: string }> | undefined;
/** kubernetes/siblings-tls.sh run once, with its default names: what an installation puts in hearth-siblings-tls. */
function siblingsTls(): Promise<{ dir: string }> {
  tlsMade ??= (async () => {
    const dir = path.join(await tempDir(), 'siblings-tls');
    await run('sh', [path.join(K8S, 'siblings-tls.sh'), dir]);
    return { dir };
  })();
  return tlsMade;
}

/**
 * The pod's filesystem under `dir`: the ConfigMap's hearth.yaml at etc/hearth/config/ with every
 * absolute path prefixed by `dir` (and the admin port and, when given, the sibling port replaced),
 * etc/hearth/hearth.yaml linking to it as in the image, each Secret the DaemonSet mounts written
 * as files into its mount path with the volume's mode (and, asPod, the pod's fsGroup) — the
 * shipped Secrets' values, and for hearth-siblings-tls the output of siblings-tls.sh — and
 * run/hearth and var/lib/hearth as the kubelet creates hostPath directories (root, 0755). Returns
 * the path the DaemonSet passes to --config.
 */
async function podLayout(dir: string, options: { port: number; siblingPort?: number; asPod?: boolean }): Promise<{ configPath: string }> {
  const { text } = await shippedConfig();
  const doc = parseDocument(text);
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && /^\/(run|var|etc)\//.test(node.value)) node.value = path.join(dir, node.value);
    },
  });
  doc.setIn(['admin', 'tcp', 'port'], options.port);
  if (options.siblingPort !== undefined) doc.setIn(['siblings', 'listen', 'port'], options.siblingPort);
  const pod = (await daemonSet()).spec.template.spec;
  const psc = pod.securityContext!;
  const c = await agentContainer();
  const files: [string, string][] = [];
  for (const v of pod.volumes ?? []) {
    if (v.secret === undefined) continue;
    const mount = mountOf(c, v.name);
    if (mount === undefined) throw new Error(`Secret ${v.secret.secretName} is not mounted`);
    const data =
      v.secret.secretName === 'hearth-siblings-tls'
        ? Object.fromEntries(await Promise.all(['tls.crt', 'tls.key', 'ca.crt'].map(async (k) => [k, await readFile(path.join((await siblingsTls()).dir, k), 'utf8')] as const)))
        : await secretData(v.secret.secretName);
    for (const [k, value] of Object.entries(data)) files.push([path.posix.join(mount.slice(1), k), value]);
  }
  for (const [rel, value] of files) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), value, { mode: 0o440 });
    if (options.asPod) await chown(path.join(dir, rel), 0, psc.fsGroup!);
  }
  await mkdir(path.join(dir, 'etc/hearth/config'), { recursive: true });
  await writeFile(path.join(dir, 'etc/hearth/config/hearth.yaml'), doc.toString(), { mode: 0o644 });
  const configPath = path.join(dir, 'etc/hearth/hearth.yaml');
  await symlink('config/hearth.yaml', configPath);
  for (const d of ['run/hearth', 'var/lib/hearth']) await mkdir(path.join(dir, d), { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  return { configPath };
}

let built: Promise<{ artifact: BuiltArtifact; root: string }> | undefined;
/** A real release artifact, unpacked by the Dockerfile's own script into <tmp>/opt/hearth. */
function image(): Promise<{ artifact: BuiltArtifact; root: string }> {
  built ??= (async () => {
    const dir = await tempDir();
    await chmod(dir, 0o755);
    const artifact = await packageBuild('0.0.0-k8s', path.join(dir, 'artifacts'));
    const root = path.join(dir, 'opt/hearth');
    await run('sh', [path.join(K8S, 'unpack-artifact.sh'), artifact.file, artifact.sha256, root]);
    return { artifact, root };
  })();
  return built;
}

test('unpack-artifact.sh installs a real artifact as versions/<v> with a current link, where the ENTRYPOINT is', async (t) => {
  const { artifact, root } = await image();
  const dockerfile = await readFile(path.join(K8S, 'Dockerfile'), 'utf8');
  const entry = /^ENTRYPOINT \["node", "\/opt\/hearth\/([^"]+)"\]$/m.exec(dockerfile)?.[1];
  t.is(entry, 'current/dist/ops-agent/main.js');
  const manifest = JSON.parse(await readFile(path.join(root, 'current/manifest.json'), 'utf8')) as { version: string; entry: { cli: string } };
  t.is(manifest.version, artifact.version);
  t.is<string | undefined, string | undefined>(`current/${manifest.entry.cli}`, entry);
  t.true(existsSync(path.join(root, entry!)));
  t.is((await stat(path.join(root, 'versions', artifact.version))).mode & 0o777, 0o755, 'readable by the non-root uid');
  const { stdout } = await run(process.execPath, [path.join(root, entry!), '--version']);
  t.is(stdout.trim(), artifact.version);
});

test('unpack-artifact.sh refuses a wrong sha256 and unpacks nothing', async (t) => {
  const { artifact } = await image();
  const dir = await tempDir();
  const wrong = artifact.sha256.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  const e = await t.throwsAsync(run('sh', [path.join(K8S, 'unpack-artifact.sh'), artifact.file, wrong, path.join(dir, 'root')]));
  t.regex(String((e as Error & { stderr?: string }).stderr), /FAILED/);
  t.false(existsSync(path.join(dir, 'root')));
  const bad = await t.throwsAsync(run('sh', [path.join(K8S, 'unpack-artifact.sh'), artifact.file, 'abc', path.join(dir, 'root')]));
  t.regex(String((bad as Error & { stderr?: string }).stderr), /64 lowercase hex/);
});

/** `setpriv` (util-linux) switches to the pod's uid/gid/groups; only root can. */
async function requireSetpriv(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'this test switches to the pod uids with setpriv and must run as root (CI does)';
  for (const [tool, pkg] of [['setpriv', 'util-linux'], ['curl', 'curl']] as const) {
    try {
      await run(tool, ['--version']);
    } catch {
      return `${tool} is missing: apt-get install ${pkg}`;
    }
  }
  return undefined;
}

const groups = new Set<ChildProcess>();
cleanup.push(() => {
  for (const child of groups) killGroup(child);
});

function spawnAs(ids: { uid: number; gid: number; groups: number[] }, argv: string[], env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const idArgs = [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, ids.groups.length > 0 ? `--groups=${ids.groups.join(',')}` : '--clear-groups'];
  const child = spawn('setpriv', [...idArgs, '--', ...argv], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  groups.add(child);
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  return { child, output: () => out };
}

/** GET as the kubelet's httpGet probe sends it: no credentials, its user agent, the pod IP as host. */
function kubeletProbe(host: string, port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: urlPath, agent: false, headers: { 'user-agent': 'kube-probe/1.32', accept: '*/*', connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

test('the image\'s build runs the ConfigMap as the DaemonSet uid in the pod layout: kubelet probes pass without a token; the example app reaches its socket only with the agent\'s gid; an SDK configured like the example app is served on the sibling port by its app token', async (t) => {
  const missing = await requireSetpriv();
  if (missing) {
    t.fail(missing);
    return;
  }
  const { root } = await image();
  const ds = await daemonSet();
  const pod = ds.spec.template.spec;
  const psc = pod.securityContext!;
  const dir = await tempDir();
  const siblingPort = await freePort();
  const { configPath } = await podLayout(dir, { port: 0, siblingPort, asPod: true });

  // The init container's own command, on this layout's host directories.
  const init = pod.initContainers!.find((c) => c.name === 'prepare-host-dirs')!;
  await run('sh', ['-c', init.command![2]!.replaceAll(' /run/hearth', ` ${dir}/run/hearth`).replaceAll(' /var/lib/hearth', ` ${dir}/var/lib/hearth`)]);

  const agent = spawnAs(
    { uid: psc.runAsUser!, gid: psc.runAsGroup!, groups: [psc.fsGroup!] },
    // The image's ENTRYPOINT with the DaemonSet's args, --config pointing into the layout.
    [process.execPath, path.join(root, 'current/dist/ops-agent/main.js'), ...(await agentContainer()).args!.map((a) => (a === '/etc/hearth/hearth.yaml' ? configPath : a))],
    { POD_IP: '127.0.0.1', NODE_NAME: 'node-a' },
  );
  cleanup.push(async () => {
    agent.child.kill('SIGTERM');
    await waitForExit(agent.child, 15_000);
    killGroup(agent.child);
  });
  const adminSock = path.join(dir, 'run/hearth/admin.sock');
  const port = await waitFor("the agent's admin API", async () => {
    if (agent.child.exitCode !== null) throw new Error(`the agent exited ${agent.child.exitCode}: ${agent.output()}`);
    const s = await getUnix(adminSock, '/v1/status').catch((err: Error) => {
      throw new Error(`${err.message}; agent output: ${agent.output().slice(-2000)}`);
    });
    const m = s.status === 200 ? /:(\d+)$/.exec((JSON.parse(s.body) as { adminTcp: string | null }).adminTcp ?? '') : null;
    return m ? Number(m[1]) : undefined;
  }, { timeoutMs: 60_000 });

  const ready = await waitFor('readiness as the kubelet sees it', async () => {
    const r = await kubeletProbe('127.0.0.1', port, '/readyz');
    return r.status === 200 ? r : undefined;
  }, { timeoutMs: 60_000 });
  t.deepEqual(JSON.parse(ready.body), { ready: true });
  const live = await kubeletProbe('127.0.0.1', port, '/healthz');
  t.is(live.status, 200);
  t.deepEqual(JSON.parse(live.body), { status: 'ok' });
  t.is((await kubeletProbe('127.0.0.1', port, '/v1/status')).status, 401, 'everything else still needs the token');

  // What the pod's users see on the host: directories and sockets of the agent's uid and gid.
  const appDir = path.join(dir, 'run/hearth/apps/demo');
  const d = await stat(appDir);
  t.deepEqual([d.mode & 0o777, d.uid, d.gid], [0o750, psc.runAsUser, psc.runAsGroup]);
  const sock = await stat(path.join(appDir, 'http.sock'));
  t.deepEqual([sock.mode & 0o777, sock.uid, sock.gid], [0o660, psc.runAsUser, psc.runAsGroup]);
  const state = await stat(path.join(dir, 'var/lib/hearth'));
  t.deepEqual([state.mode & 0o777, state.uid], [0o700, psc.runAsUser]);

  // The example app's own command, as its uid with its supplementary groups.
  const app = await exampleApp();
  const appPod = app.spec.template.spec;
  const c = appPod.containers[0]!;
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value === undefined ? '' : e.value.startsWith('/') ? path.join(dir, e.value) : e.value]));
  env.HEARTH_TOKEN = (await secretData('demo-hearth-token')).token ?? '';
  const ids = { uid: appPod.securityContext!.runAsUser!, gid: appPod.securityContext!.runAsGroup!, groups: appPod.securityContext!.supplementalGroups! };
  const demo = spawnAs(ids, c.command!, env);
  // waitFor reports the last error at its deadline: the app's output so far.
  const seen = await waitFor("the example app's first round trip", async () => {
    const m = /"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"/.exec(demo.output());
    if (!m) throw new Error(`${demo.child.exitCode === null ? 'output so far' : `exited ${demo.child.exitCode}`}: ${demo.output()}`);
    return m[0];
  }, { timeoutMs: 30_000 });
  t.truthy(seen, demo.output());
  killGroup(demo.child);

  // Without the agent's gid, the same uid cannot even reach the socket.
  const denied = spawnAs({ ...ids, groups: [] }, ['curl', '-sS', '--unix-socket', env.HEARTH_HTTP_SOCKET!, 'http://hearth/v1.0/healthz'], {});
  const code = await new Promise<number | null>((r) => denied.child.once('exit', r));
  t.not(code, 0, denied.output());

  // Failover's path: the SDK as the example app's env configures it, dialling this agent's
  // sibling port (the Service name does not resolve here; the certificate is checked against
  // HEARTH_SIBLING_SERVERNAME all the same), with no client certificate.
  const siblingEnv = Object.fromEntries((c.env ?? []).filter((e) => e.name.startsWith('HEARTH_SIBLING_')).map((e) => [e.name, e.value ?? '']));
  siblingEnv.HEARTH_SIBLING_CA = path.join((await siblingsTls()).dir, 'ca.crt'); // what the ConfigMap hearth-siblings-ca holds
  const endpoint = { name: 'node-a', host: '127.0.0.1', port: siblingPort, priority: 0 };
  const asApp = siblingConnector({ appId: 'demo', token: env.HEARTH_TOKEN, tls: siblingTlsFromEnv(siblingEnv) })(endpoint);
  const got = await waitFor('a state read through the sibling port', async () => {
    const res = (await asApp.unary('hearth.runtime.v1.State/GetState', { storeName: 'default', key: 'last-seen' }, {})) as { found: boolean; data: Buffer };
    return res.found ? res : undefined;
  }, { timeoutMs: 30_000 });
  t.is(`"${Buffer.from(got.data).toString('utf8').replaceAll('"', '')}"`, seen, 'the value the example app saved over its socket');
  await asApp.close();
  const wrongToken = siblingConnector({ appId: 'demo', token: 'not-the-demo-token-0123456789abcdef', tls: siblingTlsFromEnv(siblingEnv) })(endpoint);
  const refused = await t.throwsAsync(wrongToken.unary('hearth.runtime.v1.State/GetState', { storeName: 'default', key: 'last-seen' }, {}));
  t.is((refused as Error & { code?: string }).code, 'HEARTH_ERR_UNAUTHENTICATED');
  await wrongToken.close();
});

function pick(labels: Labels, keys: string[]): Labels {
  return Object.fromEntries(keys.filter((k) => k in labels).map((k) => [k, labels[k]!]));
}

// A run that dies before after.always still leaves no process or temp dir behind.
process.once('exit', () => {
  for (const child of groups) killGroup(child);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
