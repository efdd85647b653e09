/**
 * The Kubernetes manifests under deploy/: every document validates against
 * the Kubernetes API schemas that kubernetes-models ships (types, formats
 * such as resource quantities, required fields, enums; offline, after npm
 * ci). The NetworkAttachmentDefinition is a Multus CRD that no npm package
 * models: its metadata validates as an ObjectMeta and its CNI config must be
 * JSON naming the afxdp plugin.
 *
 * Then what the manifests promise (README: Running in containers and
 * Kubernetes): the key only from a Secret mounted as a file, never in a
 * ConfigMap or an environment variable; probes that run `xdpwg health`;
 * resource requests; exactly the capabilities each mode needs; the
 * device-plugin pod asking for the plugin's resource and the Multus network
 * whose resourceName is that resource; every ConfigMap's wg config and
 * datapath settings parse as xdpwg parses them; every referenced ConfigMap
 * and Secret exists in deploy/. The metrics (peers' keys, endpoints,
 * AllowedIPs) bound to the loopback only, never to every address — on a
 * host-network gateway that is the internet-facing one — and no scrape
 * annotation pointing a scraper at an address that does not answer.
 *
 * And what an operator needs to run it anywhere: the image a parameter
 * (kustomization.yaml's `images:` entry; no `localhost/` name a node cannot
 * pull), a Localhost seccomp profile (deploy/seccomp/xdpwg.json: valid JSON,
 * the runtime default that allows bpf()), and for the gateway DaemonSet a
 * PodDisruptionBudget, a PriorityClass and tolerations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { PriorityClass } from 'kubernetes-models/scheduling.k8s.io/v1/PriorityClass';
import { existsSync } from 'node:fs';
import { ObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
import { repoRoot } from '../helpers/tunnel-lab.js';
import { parseConfig } from '../../src/daemon/config/config-file.js';
import { parseDatapathConfig } from '../../src/daemon/config/datapath-config.js';
import { parseListenAddress } from '../../src/daemon/config/listen-address.js';

type Doc = Record<string, any>;
const deployDir = path.join(repoRoot, 'deploy');

/** The models by apiVersion/kind; a kind not listed here fails the test (nothing ships unvalidated). */
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Pod': Pod,
  'v1/Secret': Secret,
  'apps/v1/DaemonSet': DaemonSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'scheduling.k8s.io/v1/PriorityClass': PriorityClass,
};

/** kustomization.yaml is kustomize's, not a Kubernetes object: checked on its own below. */
const KUSTOMIZATION = 'kustomization.yaml';

function loadAll(): Array<{ file: string; doc: Doc }> {
  const out: Array<{ file: string; doc: Doc }> = [];
  for (const file of readdirSync(deployDir)
    .filter((f) => /\.ya?ml$/.test(f) && f !== KUSTOMIZATION)
    .sort()) {
    for (const d of parseAllDocuments(readFileSync(path.join(deployDir, file), 'utf8'))) {
      assert.deepEqual(d.errors, [], `${file}: YAML errors`);
      const doc = d.toJS() as Doc | null;
      if (doc) out.push({ file, doc });
    }
  }
  return out;
}
const docs = loadAll();
const ofKind = (kind: string): Doc[] => docs.filter((d) => d.doc.kind === kind).map((d) => d.doc);
/** Every pod spec in deploy/: Pods' specs and workload templates' specs. */
const podSpecs = (): Array<{ name: string; spec: Doc }> =>
  docs.flatMap(({ doc }) =>
    doc.kind === 'Pod'
      ? [{ name: `Pod ${doc.metadata.name}`, spec: doc.spec }]
      : doc.spec?.template?.spec
        ? [{ name: `${doc.kind} ${doc.metadata.name}`, spec: doc.spec.template.spec }]
        : [],
  );

test('deploy/ has the gateway DaemonSet, the device-plugin pod, its network, config and the Secret shape', () => {
  const kinds = docs.map((d) => `${d.file}: ${d.doc.kind}`);
  for (const k of [
    'daemonset.yaml: DaemonSet',
    'pod-device-plugin.yaml: Pod',
    'pod-device-plugin.yaml: ConfigMap',
    'configmap.yaml: ConfigMap',
    'network-attachment-definition.yaml: NetworkAttachmentDefinition',
    'secret.example.yaml: Secret',
    'namespace.yaml: Namespace',
    'priorityclass.yaml: PriorityClass',
    'poddisruptionbudget.yaml: PodDisruptionBudget',
  ]) {
    assert.ok(kinds.includes(k), `missing ${k} in ${kinds.join(', ')}`);
  }
});

for (const { file, doc } of docs) {
  test(`${file}: ${doc.kind} ${doc.metadata?.name} validates against the Kubernetes API schema`, () => {
    if (doc.apiVersion === 'k8s.cni.cncf.io/v1' && doc.kind === 'NetworkAttachmentDefinition') {
      new ObjectMeta(doc.metadata).validate();
      const cni = JSON.parse(doc.spec.config) as Doc;
      assert.equal(cni.type, 'afxdp');
      assert.equal(typeof cni.cniVersion, 'string');
      return;
    }
    const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
    assert.ok(Model, `${file}: no schema model for ${doc.apiVersion} ${doc.kind}`);
    assert.doesNotThrow(() => new Model(doc).validate());
  });
}

test('the schema validation does catch mistakes (a bad quantity, a bad probe, a missing image)', () => {
  const ds = structuredClone(ofKind('DaemonSet')[0]!);
  ds.spec.template.spec.containers[0].resources.requests.cpu = 'half a core';
  assert.throws(() => new DaemonSet(ds).validate(), /quantity/);
  const pod = structuredClone(ofKind('Pod')[0]!);
  pod.spec.containers[0].livenessProbe.periodSeconds = 'often';
  assert.throws(() => new Pod(pod).validate(), /periodSeconds must be integer/);
  const bare = structuredClone(ofKind('Pod')[0]!);
  delete bare.spec.containers;
  assert.throws(() => new Pod(bare).validate(), /containers/);
});

test('the private key: only in a Secret, mounted as a read-only file; never in a ConfigMap or an environment variable', () => {
  for (const cm of ofKind('ConfigMap')) {
    for (const [key, value] of Object.entries(cm.data as Record<string, string>)) {
      assert.doesNotMatch(value, /^\s*PrivateKey\s*=/im, `ConfigMap ${cm.metadata.name} ${key} holds a PrivateKey`);
    }
  }
  const secrets = new Set(ofKind('Secret').map((s) => s.metadata.name as string));
  for (const { name, spec } of podSpecs()) {
    for (const c of spec.containers as Doc[]) {
      for (const e of (c.env ?? []) as Doc[]) {
        assert.equal(e.valueFrom?.secretKeyRef, undefined, `${name}: env ${e.name} comes from a Secret`);
        assert.doesNotMatch(String(e.value ?? ''), /^[A-Za-z0-9+/]{43}=$/, `${name}: env ${e.name} looks like a key`);
      }
      assert.equal(c.envFrom, undefined, `${name}: envFrom`);
      const keyVolume = (spec.volumes as Doc[]).find((v) => v.secret);
      assert.ok(keyVolume && secrets.has(keyVolume.secret.secretName), `${name}: the key Secret volume`);
      assert.equal(keyVolume.secret.defaultMode, 0o400, `${name}: key file mode`);
      const mount = (c.volumeMounts as Doc[]).find((m) => m.name === keyVolume.name);
      assert.equal(mount?.readOnly, true, `${name}: key mounted read-only`);
      const config = (spec.volumes as Doc[]).find((v) => v.configMap);
      const cm = ofKind('ConfigMap').find((m) => m.metadata.name === config?.configMap.name);
      assert.ok(cm, `${name}: its ConfigMap ${config?.configMap.name} is in deploy/`);
      assert.match(
        cm.data['wg0.conf'],
        new RegExp(`^PostUp = wg set %i private-key ${mount!.mountPath}/private-key$`, 'm'),
        `${name}: the key file reaches the interface`,
      );
    }
  }
});

test('probes run `xdpwg health`; resources are requested', () => {
  for (const { name, spec } of podSpecs()) {
    for (const c of spec.containers as Doc[]) {
      assert.deepEqual(c.livenessProbe?.exec?.command, ['xdpwg', 'health', 'wg0'], `${name}: liveness`);
      assert.deepEqual(c.readinessProbe?.exec?.command, ['xdpwg', 'health', 'wg0', '--ready'], `${name}: readiness`);
      assert.deepEqual(c.args, ['up', '/etc/xdpwg/wg0.conf'], `${name}: runs the interface the probes check`);
      assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${name}: cpu and memory requests`);
      assert.ok(c.resources?.limits?.memory, `${name}: a memory limit`);
    }
  }
});

test('exactly the capabilities each mode needs, nothing privileged', () => {
  const want: Record<string, string[]> = {
    'DaemonSet xdpwg-gateway': ['BPF', 'IPC_LOCK', 'NET_ADMIN', 'NET_RAW', 'PERFMON'],
    'Pod xdpwg-afxdp': ['IPC_LOCK', 'NET_ADMIN', 'NET_RAW'],
  };
  const specs = podSpecs();
  assert.deepEqual(specs.map((s) => s.name).sort(), Object.keys(want).sort());
  for (const { name, spec } of specs) {
    const sc = (spec.containers as Doc[])[0]!.securityContext as Doc;
    assert.deepEqual(sc.capabilities.drop, ['ALL'], name);
    assert.deepEqual([...sc.capabilities.add].sort(), want[name], name);
    assert.equal(sc.privileged, false, name);
    assert.equal(sc.allowPrivilegeEscalation, false, name);
    // bpf() is refused by default seccomp profiles without CAP_SYS_ADMIN: our profile, not Unconfined.
    assert.deepEqual(sc.seccompProfile, { type: 'Localhost', localhostProfile: 'xdpwg.json' }, name);
  }
});

test('the gateway DaemonSet: host network; the device-plugin pod: the plugin resource and the Multus network that carries it', () => {
  const ds = ofKind('DaemonSet')[0]!;
  assert.equal(ds.spec.template.spec.hostNetwork, true);
  const pod = ofKind('Pod')[0]!;
  const nad = ofKind('NetworkAttachmentDefinition')[0]!;
  assert.equal(pod.metadata.annotations['k8s.v1.cni.cncf.io/networks'], nad.metadata.name);
  const resource = nad.metadata.annotations['k8s.v1.cni.cncf.io/resourceName'] as string;
  assert.match(resource, /^afxdp\//);
  const c = pod.spec.containers[0];
  assert.equal(c.resources.requests[resource], '1');
  assert.equal(c.resources.limits[resource], '1');
  assert.notEqual(pod.spec.hostNetwork, true);
});

test("every ConfigMap's wg config and datapath settings parse as xdpwg parses them; the modes match the pods", () => {
  for (const cm of ofKind('ConfigMap')) {
    const conf = parseConfig(cm.data['wg0.conf'], `${cm.metadata.name}/wg0.conf`);
    assert.ok(conf.peers.length > 0, `${cm.metadata.name}: peers`);
    const dp = parseDatapathConfig(cm.data['wg0.datapath.jsonc'], `${cm.metadata.name}/wg0.datapath.jsonc`);
    assert.notEqual(dp.metricsListen, 'off', `${cm.metadata.name}: metrics on`);
    assert.equal(dp.xdpProgram, cm.metadata.name === 'xdpwg-afxdp-config' ? 'device-plugin' : 'own', cm.metadata.name);
  }
});

/** Every metrics listen address the manifests configure: datapath settings and --metrics-listen flags. */
function metricsListens(): Array<{ where: string; listen: string }> {
  const out: Array<{ where: string; listen: string }> = [];
  for (const cm of ofKind('ConfigMap')) {
    for (const [key, text] of Object.entries(cm.data ?? {})) {
      if (!key.endsWith('.datapath.jsonc')) continue;
      const dp = parseDatapathConfig(String(text), `${cm.metadata.name}/${key}`);
      if (dp.metricsListen !== undefined && dp.metricsListen !== 'off')
        out.push({ where: `ConfigMap ${cm.metadata.name} ${key}`, listen: dp.metricsListen });
    }
  }
  for (const { name, spec } of podSpecs()) {
    for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
      const argv: string[] = [...(c.command ?? []), ...(c.args ?? [])].map(String);
      argv.forEach((a, i) => {
        if (a === '--metrics-listen' && argv[i + 1] !== undefined && argv[i + 1] !== 'off')
          out.push({ where: `${name} ${c.name} args`, listen: argv[i + 1]! });
        else if (a.startsWith('--metrics-listen=') && a !== '--metrics-listen=off')
          out.push({ where: `${name} ${c.name} args`, listen: a.slice('--metrics-listen='.length) });
      });
    }
  }
  return out;
}

test('no manifest serves the metrics on every address: the loopback by default, and no scrape annotation for it', () => {
  const listens = metricsListens();
  assert.ok(listens.length > 0, 'the manifests configure metrics somewhere (else this test checks nothing)');
  for (const { where, listen } of listens) {
    const { host } = parseListenAddress(listen);
    assert.ok(host !== undefined && host !== '0.0.0.0' && host !== '::', `${where}: metricsListen "${listen}" listens on every address`);
    assert.ok(
      host === '127.0.0.1' || host === '::1',
      `${where}: metricsListen "${listen}" is not node-internal by default (the loopback; README: Monitoring says how to open it)`,
    );
  }
  // A scraper would find nothing on the pod's address while the metrics are on the loopback.
  for (const { doc } of docs) {
    const annotations = [doc.metadata?.annotations, doc.spec?.template?.metadata?.annotations].filter(Boolean);
    for (const a of annotations)
      assert.notEqual(
        a['prometheus.io/scrape'],
        'true',
        `${doc.kind} ${doc.metadata.name}: prometheus.io/scrape "true" for metrics on the loopback`,
      );
  }
});

type SeccompRule = { names: string[]; action: string; includes?: { caps?: string[] }; excludes?: { caps?: string[] } };

test('the seccomp profile the manifests name: valid JSON, the runtime default (deny by default) plus bpf() for any caps', () => {
  const file = path.join(deployDir, 'seccomp', 'xdpwg.json');
  assert.ok(existsSync(file), 'deploy/seccomp/xdpwg.json');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { defaultAction: string; syscalls: SeccompRule[]; archMap?: unknown[] };
  assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
  assert.ok(Array.isArray(profile.archMap) && profile.archMap.length > 0, 'architectures');
  const rulesFor = (name: string): SeccompRule[] => profile.syscalls.filter((r) => r.names.includes(name));
  const unconditional = (r: SeccompRule): boolean => !r.includes?.caps?.length && !r.excludes?.caps?.length;
  // bpf: allowed whatever the capabilities (the kernel checks CAP_BPF itself), denied by no rule.
  assert.ok(
    rulesFor('bpf').some((r) => r.action === 'SCMP_ACT_ALLOW' && unconditional(r)),
    'bpf allowed',
  );
  assert.deepEqual(
    rulesFor('bpf').filter((r) => r.action !== 'SCMP_ACT_ALLOW'),
    [],
    'no rule refuses bpf',
  );
  // Otherwise the default: the syscalls everything needs allowed, the dangerous ones not without their capability.
  for (const name of ['read', 'write', 'setsockopt', 'mmap', 'sendmmsg', 'recvmmsg', 'ioctl']) {
    assert.ok(
      rulesFor(name).some((r) => r.action === 'SCMP_ACT_ALLOW' && unconditional(r)),
      `${name} allowed`,
    );
  }
  for (const name of ['kexec_load', 'init_module', 'delete_module', 'open_by_handle_at', 'perf_event_open']) {
    assert.ok(!rulesFor(name).some((r) => r.action === 'SCMP_ACT_ALLOW' && unconditional(r)), `${name} is not allowed for every pod`);
  }
});

test("the image is a parameter: kustomization.yaml's images entry names the manifests' image; no localhost/ name", () => {
  const k = parseAllDocuments(readFileSync(path.join(deployDir, KUSTOMIZATION), 'utf8'))[0]!.toJS() as Doc;
  assert.equal(k.kind, 'Kustomization');
  for (const r of k.resources as string[]) assert.ok(existsSync(path.join(deployDir, r)), `kustomization resource ${r}`);
  for (const f of ['daemonset.yaml', 'priorityclass.yaml', 'poddisruptionbudget.yaml', 'configmap.yaml', 'namespace.yaml']) {
    assert.ok((k.resources as string[]).includes(f), `kustomization includes ${f}`);
  }
  const entry = (k.images as Doc[]).find((i) => i.name === 'xdpwg');
  assert.ok(entry?.newName && entry?.newTag, 'an images entry with newName and newTag for xdpwg');
  for (const { name, spec } of podSpecs()) {
    for (const c of spec.containers as Doc[]) {
      // kustomize matches the image's name without its tag; a registry host here would not match the entry.
      assert.equal(String(c.image).split(':')[0], 'xdpwg', `${name}: image ${c.image} is the kustomize parameter`);
      assert.doesNotMatch(String(c.image), /^localhost\//, `${name}: no node pulls localhost/`);
    }
  }
});

test('the gateway DaemonSet: a PodDisruptionBudget over its pods, a PriorityClass in deploy/, NoSchedule tolerations', () => {
  const ds = ofKind('DaemonSet')[0]!;
  const podLabels = ds.spec.template.metadata.labels as Record<string, string>;
  const pdb = ofKind('PodDisruptionBudget').find((p) => p.metadata.namespace === ds.metadata.namespace);
  assert.ok(pdb, "a PodDisruptionBudget in the DaemonSet's namespace");
  for (const [key, value] of Object.entries(pdb.spec.selector.matchLabels as Record<string, string>))
    assert.equal(podLabels[key], value, `PDB selects ${key}`);
  assert.equal(pdb.spec.maxUnavailable, ds.spec.updateStrategy.rollingUpdate.maxUnavailable, 'as many down as the rolling update takes');
  const pc = ofKind('PriorityClass').find((p) => p.metadata.name === ds.spec.template.spec.priorityClassName);
  assert.ok(pc, `PriorityClass ${ds.spec.template.spec.priorityClassName} in deploy/`);
  assert.ok(pc.value > 0 && pc.value < 1_000_000_000, 'above ordinary pods, below the system-* classes');
  assert.notEqual(pc.globalDefault, true);
  const tolerations = ds.spec.template.spec.tolerations as Doc[];
  assert.ok(
    tolerations.some((t) => t.operator === 'Exists' && t.effect === 'NoSchedule' && t.key === undefined),
    'tolerates NoSchedule taints',
  );
  assert.ok(
    !tolerations.some((t) => t.operator === 'Exists' && t.key === undefined && t.effect !== 'NoSchedule'),
    'no blanket NoExecute toleration (drains must evict)',
  );
});
