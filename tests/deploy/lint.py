"""Checks of the deployment files that need Steward's own knowledge, beyond
what hadolint and dclint see (tests/deploy/check runs them first):

- Dockerfile: a bookworm Rust build stage and a bookworm-slim runtime stage,
  a non-root USER, `steward` as ENTRYPOINT, EXPOSE equal to STEWARD_LISTEN's
  port, a HEALTHCHECK on a route Steward serves.
- docker-compose.yml: every command of the Steward image is a `steward`
  subcommand with options that subcommand has; every variable given to Steward
  (compose `environment`, deploy.env.example) is one Steward reads; every
  `${…}` compose interpolates is in deploy.env.example; dependencies, volumes,
  mounted files, Envoy's image version, its upstream and the trusted proxy
  agree with envoy/production.yaml and envoy/run.
- docs/DEPLOY.md names every variable Steward reads (src/config.rs's table
  and every environment variable read in src/ outside tests), so its list of
  settings cannot go stale.

Usage: lint.py REPO STEWARD_BIN
"""

import re
import subprocess
import sys
from pathlib import Path

import yaml
from dockerfile_parse import DockerfileParser

repo = Path(sys.argv[1])
steward_bin = sys.argv[2]
failures = []


def fail(message):
    failures.append(message)


# --- what Steward reads --------------------------------------------------------------

# `get("X")`, `var("X")`, `lookup("X")` and constants naming a variable.
READ = re.compile(r'\b(?:get|var|var_os|lookup|parse_count\(get,)\s*\(?\s*"([A-Z][A-Z0-9_]{2,})"')
STEWARD_LITERAL = re.compile(r'"((?:STEWARD_[A-Z0-9_]+)|DATABASE_URL)"')
NOT_SETTINGS = {"PATH", "HOSTNAME"}  # the process's own environment, not configuration


def production_source(path):
    """The file's text without its test code, or None for a test-only file."""
    text = path.read_text()
    cut = re.search(r"^#\[cfg\(test\)\]\s*\n(?:pub(?:\([a-z]+\))? )?mod \w+ \{", text, re.M)
    return text[: cut.start()] if cut else text


def test_only_files(src):
    """Files declared as `#[cfg(test)] mod name;`."""
    found = set()
    for path in src.rglob("*.rs"):
        for name in re.findall(r"^#\[cfg\(test\)\]\s*\n(?:pub(?:\([a-z]+\))? )?mod (\w+);", path.read_text(), re.M):
            base = path.parent if path.name in ("mod.rs", "lib.rs", "main.rs") else path.with_suffix("")
            found |= {base / f"{name}.rs", base / name / "mod.rs"}
    return found


def variables_read():
    src = repo / "src"
    tests = test_only_files(src)
    names = set()
    for path in src.rglob("*.rs"):
        if path in tests:
            continue
        text = production_source(path)
        names |= set(STEWARD_LITERAL.findall(text)) | set(READ.findall(text))
    # The first column of src/config.rs's settings table.
    for line in (src / "config.rs").read_text().splitlines():
        if line.startswith("//! | `"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names - NOT_SETTINGS


read = variables_read()
if "STEWARD_ENCRYPTION_KEYS" not in read or "DATABASE_URL" not in read:
    sys.exit("deploy: found no variables in src/: the extraction in tests/deploy/lint.py is broken")

# --- steward's command line ------------------------------------------------------------


def help_text(*args):
    return subprocess.run([steward_bin, *args, "--help"], capture_output=True, text=True, check=True).stdout


def children(*path):
    """The subcommands `steward PATH --help` lists (empty for a leaf command)."""
    text = help_text(*path)
    if "Commands:" not in text:
        return set()
    block = text.split("Commands:")[1].split("Options:")[0]
    return {line.split()[0] for line in block.splitlines() if line.startswith("  ") and line.split()}


SUBCOMMANDS = children()


def check_steward_command(where, argv):
    """`steward ARGV` names existing (sub)commands and only options they have."""
    shown = f"`steward {' '.join(argv)}`"
    path = []
    for word in [a for a in argv if not a.startswith("-")]:
        listed = children(*path)
        if not listed:
            break  # a leaf command: the rest are its arguments
        if word not in listed:
            fail(f"{where}: {shown}: `steward {' '.join(path)}` has no subcommand {word!r} ({sorted(listed)})")
            return
        path.append(word)
    if not path:
        fail(f"{where}: {shown}: no subcommand")
        return
    options = help_text(*path)
    for arg in argv:
        if arg.startswith("-") and not re.search(rf"(?:^|[\s,]){re.escape(arg.split('=')[0])}\b", options):
            fail(f"{where}: {shown}: `steward {' '.join(path)}` has no option {arg}")


# --- Dockerfile ------------------------------------------------------------------------

dockerfile = DockerfileParser(path=str(repo / "Dockerfile"))
instructions = dockerfile.structure
froms = [i["value"] for i in instructions if i["instruction"] == "FROM"]
if len(froms) < 2 or not re.match(r"rust:[0-9.]+-bookworm\b", froms[0]):
    fail(f"Dockerfile: the first stage must build on a pinned rust:X-bookworm image, not {froms[:1]}")
if not froms or not froms[-1].startswith("debian:bookworm-slim"):
    fail(f"Dockerfile: the runtime stage must be debian:bookworm-slim, not {froms[-1:]}")
last_from = max(n for n, i in enumerate(instructions) if i["instruction"] == "FROM")
runtime = instructions[last_from:]


def runtime_values(name):
    return [i["value"] for i in runtime if i["instruction"] == name]


users = runtime_values("USER")
if not users or users[-1].split(":")[0] in ("root", "0"):
    fail("Dockerfile: the runtime stage must end as a non-root USER")
if runtime_values("ENTRYPOINT") != ['["steward"]']:
    fail(f"Dockerfile: ENTRYPOINT must be [\"steward\"], not {runtime_values('ENTRYPOINT')}")
for cmd in runtime_values("CMD"):
    check_steward_command("Dockerfile CMD", yaml.safe_load(cmd))
image_env = dockerfile.envs
for name in image_env:
    if name.startswith("STEWARD_") and name not in read:
        fail(f"Dockerfile: ENV {name} is not a variable Steward reads")
listen_port = image_env.get("STEWARD_LISTEN", "127.0.0.1:8080").rsplit(":", 1)[1]
if runtime_values("EXPOSE") != [listen_port]:
    fail(f"Dockerfile: EXPOSE {runtime_values('EXPOSE')} is not STEWARD_LISTEN's port {listen_port}")
healthchecks = runtime_values("HEALTHCHECK")
served = (repo / "src" / "http.rs").read_text()
if not healthchecks:
    fail("Dockerfile: no HEALTHCHECK")
for check in healthchecks:
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", check)
    if not url or url.group(1) != listen_port or f'.route("{url.group(2)}"' not in served:
        fail(f"Dockerfile: HEALTHCHECK {check!r} must GET a route of src/http.rs on port {listen_port}")

# --- docker-compose.yml and deploy.env.example ----------------------------------------------

compose_text = (repo / "docker-compose.yml").read_text()
compose = yaml.safe_load(compose_text)
services = compose["services"]
env_example = {}
for line in (repo / "deploy.env.example").read_text().splitlines():
    m = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=", line)
    if m:
        env_example[m.group(1)] = line
interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose_text))
for name in sorted(interpolated - set(env_example)):
    fail(f"docker-compose.yml: ${{{name}}} is not in deploy.env.example")
for name in sorted(env_example):
    if name not in read and name not in interpolated:
        fail(f"deploy.env.example: {name} is neither read by Steward nor used by docker-compose.yml")

steward_services = {n: s for n, s in services.items() if s.get("build") is not None}
if not steward_services:
    fail("docker-compose.yml: no service builds the Steward image")
for name, service in services.items():
    if name in steward_services:
        command = service.get("command", ["serve"])
        check_steward_command(f"docker-compose.yml service {name}", command)
        for var in service.get("environment", {}):
            if var not in read:
                fail(f"docker-compose.yml service {name}: {var} is not a variable Steward reads")
        if service.get("env_file") != ".env":
            fail(f"docker-compose.yml service {name}: secrets must come from env_file .env")
    for dependency, spec in (service.get("depends_on") or {}).items():
        if dependency not in services:
            fail(f"docker-compose.yml service {name}: depends on unknown service {dependency}")
        condition = spec.get("condition")
        if condition == "service_healthy" and (services.get(dependency, {}).get("healthcheck") or {}).get("disable"):
            fail(f"docker-compose.yml service {name}: waits for {dependency} to be healthy, which has no health check")
        if condition == "service_completed_successfully" and services.get(dependency, {}).get("restart") != "no":
            fail(f"docker-compose.yml service {name}: waits for one-shot {dependency}, which must have restart: \"no\"")
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("./"):
            if source in ("./tls", "./site-templates"):  # made by the operator (see the header)
                continue
            if not (repo / source).exists():
                fail(f"docker-compose.yml service {name}: mounts {source}, which is not in the repository")
        elif source not in (compose.get("volumes") or {}):
            fail(f"docker-compose.yml service {name}: volume {source} is not declared")

for name in steward_services:
    if name not in ("migrate", "descriptor"):
        if "migrate" not in (services[name].get("depends_on") or {}):
            fail(f"docker-compose.yml service {name}: must wait for migrate (service_completed_successfully)")

# Envoy: the same version tests/deploy/check validates with, the config and
# descriptor where envoy/production.yaml looks, the upstream a real service.
envoy_version = re.search(r"^ENVOY_VERSION=(\S+)", (repo / "envoy" / "run").read_text(), re.M).group(1)
envoy = services.get("envoy", {})
if envoy.get("image") != f"envoyproxy/envoy:v{envoy_version}":
    fail(f"docker-compose.yml: envoy image must be envoyproxy/envoy:v{envoy_version} (envoy/run's version)")
mounts = {v.split(":")[1]: v.split(":")[0] for v in envoy.get("volumes", [])}
if mounts.get("/etc/envoy/envoy.yaml") != "./envoy/production.yaml":
    fail("docker-compose.yml: envoy must mount ./envoy/production.yaml as /etc/envoy/envoy.yaml")
production = yaml.safe_load((repo / "envoy" / "production.yaml").read_text())
production_text = (repo / "envoy" / "production.yaml").read_text()
descriptor_path = re.search(r"proto_descriptor: (\S+)", production_text).group(1)
descriptor_volume = mounts.get(str(Path(descriptor_path).parent))
writer = services.get("descriptor", {})
written = writer.get("command", [])[-1:] if writer else []
writer_mounts = {v.split(":")[0]: v.split(":")[1] for v in writer.get("volumes", [])}
if not descriptor_volume or not written or Path(written[0]).name != Path(descriptor_path).name \
        or writer_mounts.get(descriptor_volume) != str(Path(written[0]).parent):
    fail(f"docker-compose.yml: the descriptor service must write {Path(descriptor_path).name} into the volume "
         f"envoy mounts at {Path(descriptor_path).parent}")
for path in re.findall(r"filename: (/etc/envoy/tls/\S+)", production_text):
    if mounts.get(str(Path(path).parent)) is None:
        fail(f"docker-compose.yml: envoy does not mount {Path(path).parent} (envoy/production.yaml reads {path})")
cluster = next(c for c in production["static_resources"]["clusters"] if c["name"] == "steward")
address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
if address["address"] not in services or str(address["port_value"]) != listen_port:
    fail(f"envoy/production.yaml: upstream {address['address']}:{address['port_value']} is not the compose "
         f"service serving on {listen_port}")
envoy_ip = ((envoy.get("networks") or {}).get("backend") or {}).get("ipv4_address")
trusted = steward_services.get("steward", {}).get("environment", {}).get("STEWARD_TRUSTED_PROXIES")
if not envoy_ip or trusted != envoy_ip:
    fail(f"docker-compose.yml: STEWARD_TRUSTED_PROXIES ({trusted}) must be Envoy's address ({envoy_ip})")

# --- docs/DEPLOY.md -------------------------------------------------------------------------

deploy_md = repo / "docs" / "DEPLOY.md"
if deploy_md.exists():
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", deploy_md.read_text()))
    missing = sorted(read - documented)
    if missing:
        fail("docs/DEPLOY.md does not list these variables Steward reads: " + ", ".join(missing))
    # Commands in code (fenced blocks and `spans`) must exist, subcommands included.
    text = deploy_md.read_text()
    code = re.findall(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S) + re.findall(r"`([^`\n]+)`", text)
    for snippet in code:
        for first, second in re.findall(r"(?:^|[\s/])steward ([a-z][a-z-]+)(?: ([a-z][a-z-]+))?", snippet, re.M):
            check_steward_command("docs/DEPLOY.md", [w for w in (first, second) if w])
else:
    fail("docs/DEPLOY.md is missing")

if failures:
    print("\n".join(f"deploy: {f}" for f in failures), file=sys.stderr)
    sys.exit(1)
print(f"deploy: Dockerfile, docker-compose.yml, deploy.env.example and docs/DEPLOY.md agree with Steward "
      f"({len(read)} variables, subcommands {', '.join(sorted(SUBCOMMANDS - {'help'}))})")
