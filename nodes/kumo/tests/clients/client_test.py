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
time.sleep(0.5)
v1.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="two")))
v1.patch_namespaced_config_map("one", ns, {"data": {"k": "w"}})
t.join(15)
assert seen == [("ADDED", "two"), ("MODIFIED", "one")], seen

try:
    v1.read_namespaced_config_map("missing", ns)
    raise SystemExit("expected 404")
except client.exceptions.ApiException as e:
    assert e.status == 404, e.status
print("python client: ok")
