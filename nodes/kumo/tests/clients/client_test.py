"""The Python kubernetes client against kumo up: list, create, watch."""
import os
import sys
import threading
import time

from kubernetes import client, config, watch

config.load_kube_config(config_file=os.environ["KUBECONFIG"])
v1 = client.CoreV1Api()
apps = client.AppsV1Api()

names = [ns.metadata.name for ns in v1.list_namespace().items]
assert "default" in names and "kube-system" in names, names

ns = "py-" + str(os.getpid())
v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
cm = v1.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="one", labels={"from": "python"}), data={"k": "v"}))
assert cm.metadata.resource_version and cm.metadata.uid

dep = apps.create_namespaced_deployment(ns, {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
assert dep.spec.replicas == 1 and dep.spec.strategy.type == "RollingUpdate", dep.spec

# kube-root-ca.crt appears in a new namespace asynchronously (as in Kubernetes): wait for it,
# so that the watch below, which starts after this list's revision, cannot see it.
deadline = time.time() + 10
while "kube-root-ca.crt" not in [c.metadata.name for c in v1.list_namespaced_config_map(ns).items]:
    assert time.time() < deadline, "kube-root-ca.crt never appeared"
    time.sleep(0.05)
listed = v1.list_namespaced_config_map(ns, label_selector="from=python")
assert [c.metadata.name for c in listed.items] == ["one"], listed.items

seen = []
def watcher():
    w = watch.Watch()
    for ev in w.stream(v1.list_namespaced_config_map, ns, resource_version=listed.metadata.resource_version, timeout_seconds=10):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) >= 2:
            w.stop()
t = threading.Thread(target=watcher)
t.start()
# No sleep needed: the watch starts from the list's resourceVersion, so it sees these
# writes whenever it connects.
v1.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="two")))
v1.patch_namespaced_config_map("one", ns, {"data": {"k": "w"}})
t.join(15)
assert seen == [("ADDED", "two"), ("MODIFIED", "one")], seen

# Every kind with a status deserializes in the typed client: the status fields Kubernetes
# always sends (its Go types have no omitempty on them) are there on a new object.
tmpl = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
sel = {"matchLabels": {"app": "x"}}
apps.create_namespaced_replica_set(ns, {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
                                        "spec": {"selector": sel, "template": tmpl}})
apps.create_namespaced_stateful_set(ns, {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "sts"},
                                         "spec": {"selector": sel, "serviceName": "sts", "template": tmpl}})
apps.create_namespaced_daemon_set(ns, {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds"},
                                       "spec": {"selector": sel, "template": tmpl}})
client.AutoscalingV1Api().create_namespaced_horizontal_pod_autoscaler(ns, {
    "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "hpa1"},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 3,
             "targetCPUUtilizationPercentage": 50}})
client.PolicyV1Api().create_namespaced_pod_disruption_budget(ns, {
    "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "pdb"},
    "spec": {"selector": sel, "minAvailable": 1}})
assert [x.metadata.name for x in apps.list_namespaced_replica_set(ns).items] == ["rs"]
assert [x.metadata.name for x in apps.list_namespaced_stateful_set(ns).items] == ["sts"]
assert [x.metadata.name for x in apps.list_namespaced_daemon_set(ns).items] == ["ds"]
h1 = client.AutoscalingV1Api().list_namespaced_horizontal_pod_autoscaler(ns).items
assert [(x.metadata.name, x.spec.target_cpu_utilization_percentage) for x in h1] == [("hpa1", 50)], h1
h2 = client.AutoscalingV2Api().list_namespaced_horizontal_pod_autoscaler(ns).items
assert h2[0].spec.metrics[0].resource.target.average_utilization == 50, h2
assert [x.metadata.name for x in client.PolicyV1Api().list_namespaced_pod_disruption_budget(ns).items] == ["pdb"]
assert client.VersionApi().get_code().minor == "33"

try:
    v1.read_namespaced_config_map("missing", ns)
    raise SystemExit("expected 404")
except client.exceptions.ApiException as e:
    assert e.status == 404, e.status
print("python client: ok")
