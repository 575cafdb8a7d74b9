#!/usr/bin/env python3
"""The in-cluster k6 Job starts: its script initialises from the files the Job mounts.

Schema validation (deploy/k8s/validate.sh) cannot see that a script opens a file its ConfigMap does
not carry. This check renders deploy/k8s/k6 with kubectl's kustomize, lays the k6 container's
volumes out in a temporary root as the Job mounts them (each ConfigMap key a read-only file under
its mountPath, emptyDirs as empty folders), and runs the local k6 there with the container's own
arguments and environment (`env` and `envFrom` ConfigMaps, nothing inherited from this shell), with
`run` replaced by `inspect --execution-requirements`: k6 then runs the script's init context (every
`open()`, the profile and scenario selection) and builds the execution plan, without sending load.

Usage: python3 ci/k8s-job.py [kustomization folder, default deploy/k8s/k6]. Needs kubectl, k6 and
PyYAML (.ci/run installs them). Exits non-zero, with k6's error, when the Job could not start.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTAINER = "k6"


def render(kustomization):
    out = subprocess.run(["kubectl", "kustomize", kustomization], check=True, capture_output=True, text=True)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def one(resources, kind, name=None):
    found = [r for r in resources if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]
    if len(found) != 1:
        sys.exit(f"expected one {kind}{' ' + name if name else ''} in the rendered manifests, found {len(found)}")
    return found[0]


def config_map_files(config_map):
    files = dict(config_map.get("data", {}))
    for key, value in config_map.get("binaryData", {}).items():
        files[key] = base64.b64decode(value)
    return files


def inside(root, path):
    """A container path, under the temporary root."""
    return os.path.join(root, path.lstrip("/"))


def lay_out_volumes(root, pod, container, resources):
    """Every mount of the container under root; returns the read-only folders."""
    read_only = []
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        target = inside(root, mount["mountPath"])
        os.makedirs(target, exist_ok=True)
        if "configMap" in volume:
            files = config_map_files(one(resources, "ConfigMap", volume["configMap"]["name"]))
            items = volume["configMap"].get("items") or [{"key": key, "path": key} for key in files]
            for item in items:
                path = os.path.join(target, item["path"])
                os.makedirs(os.path.dirname(path), exist_ok=True)
                content = files[item["key"]]
                with open(path, "wb" if isinstance(content, bytes) else "w") as f:
                    f.write(content)
                os.chmod(path, 0o444)
            print(f"  {mount['mountPath']}: ConfigMap {volume['configMap']['name']}: {', '.join(sorted(i['path'] for i in items))}")
        elif "emptyDir" in volume:
            print(f"  {mount['mountPath']}: emptyDir")
        else:
            sys.exit(f"volume {mount['name']}: only configMap and emptyDir volumes are laid out here")
        if mount.get("readOnly"):
            os.chmod(target, 0o555)
            read_only.append(target)
    return read_only


def environment(container, resources):
    env = {}
    for source in container.get("envFrom", []):
        if "configMapRef" not in source:
            sys.exit(f"envFrom {source}: only configMapRef is read here")
        env.update(one(resources, "ConfigMap", source["configMapRef"]["name"]).get("data", {}))
    for variable in container.get("env", []):
        if "value" not in variable:
            sys.exit(f"env {variable['name']}: only literal values are read here")
        env[variable["name"]] = variable["value"]
    return env


def main():
    kustomization = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "deploy/k8s/k6")
    resources = render(kustomization)
    job = one(resources, "Job")
    pod = job["spec"]["template"]["spec"]
    [container] = [c for c in pod["containers"] if c["name"] == CONTAINER]
    command = container.get("command", ["k6"])
    args = container.get("args", [])
    if command != ["k6"] or not args or args[0] != "run":
        sys.exit(f"the Job's k6 container runs {command + args}; this check knows `k6 run <script>` only")
    env = environment(container, resources)
    with tempfile.TemporaryDirectory(prefix="k6-job-") as root:
        print(f"Job {job['metadata']['name']}: the container's volumes as mounted, under {root}:")
        read_only = lay_out_volumes(root, pod, container, resources)
        mounts = sorted((m["mountPath"] for m in container.get("volumeMounts", [])), key=len, reverse=True)
        rewritten = [
            next((inside(root, a) for m in mounts if a == m or a.startswith(m.rstrip("/") + "/")), a) for a in args[1:]
        ]
        workdir = inside(root, "home/k6")  # the grafana/k6 image's working directory
        os.makedirs(workdir)
        local_env = {"PATH": os.environ["PATH"], "HOME": workdir, **env}
        argv = ["k6", "inspect", "--execution-requirements", *rewritten]
        print(f"the Job runs: k6 {' '.join(args)}")
        print(f"  with {' '.join(f'{k}={v}' for k, v in sorted(env.items()))}")
        print(f"here: {' '.join(argv)}")
        result = subprocess.run(argv, cwd=workdir, env=local_env, capture_output=True, text=True)
        for folder in read_only:  # so that the temporary root can be removed by a non-root user too
            os.chmod(folder, 0o755)
        if result.returncode != 0:
            sys.stderr.write(result.stdout + result.stderr)
            sys.exit(f"FAILED: k6 cannot initialise the Job's script from the files the Job mounts (exit {result.returncode})")
    plan = json.loads(result.stdout)
    scenarios = sorted(plan.get("scenarios", {}))
    if not scenarios:
        sys.exit(f"FAILED: k6 initialised the script but planned no scenario: {result.stdout}")
    print(f"the Job's script initialises: {len(scenarios)} scenarios planned ({', '.join(scenarios)}), "
          f"max {plan.get('maxVUs')} VUs, {plan.get('totalDuration')}")


if __name__ == "__main__":
    main()
