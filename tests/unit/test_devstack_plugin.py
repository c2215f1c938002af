"""devstack/plugin.sh run phase by phase against stubbed devstack functions.

The stubs record every devstack function the plugin calls (one shell-quoted line
per call, tagged with the phase), ``iniset`` also writes a real ini file, and
fake ``cascade-*`` console scripts record how they were run. The tests then
check what the plugin configured (by loading the file with Cascade's own
option definitions), registered in Keystone, and started or stopped.
"""
from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from oslo_config import cfg
from oslo_log import log
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from cascade import config

TOP = Path(__file__).resolve().parents[2]
PLUGIN = TOP / "devstack" / "plugin.sh"
SETTINGS = TOP / "devstack" / "settings"

STACK_PHASES = ("pre-install", "install", "post-config", "extra", "test-config")

# Devstack's functions as the plugin uses them: recorders, plus just enough
# behaviour for the ones whose output or effect the plugin relies on.
STUBS = r"""
_record() {
    local line
    printf -v line '%q ' "$@"
    printf '%s\t%s\n' "$PHASE" "${line% }" >> "$CALLS"
}
for _f in echo_summary setup_develop pip_install recreate_database run_process \
          stop_process get_or_add_user_project_role setup_logging wait_for_service \
          configure_keystone_authtoken_middleware; do
    eval "$_f() { _record $_f \"\$@\"; }"
done
is_service_enabled() {
    local s
    for s in "$@"; do [[ ,$ENABLED_SERVICES, == *,$s,* ]] && return 0; done
    return 1
}
enable_service() {
    local s
    for s in "$@"; do
        [[ ,$DISABLED_SERVICES, == *,$s,* ]] && continue
        is_service_enabled "$s" || ENABLED_SERVICES+=,$s
    done
}
trueorfalse() {
    local value=${!2:-}
    case ${value,,} in
        1|yes|true|on) echo True ;;
        0|no|false|off) echo False ;;
        *) echo "$1" ;;
    esac
}
die() {
    local line=$1
    shift
    echo "die line $line: $*" >&2
    _record die "$@"
    exit 1
}
sudo() { _record sudo "$@"; "$@"; }
iniset() {
    [[ $1 == -sudo ]] && shift
    _record iniset "$@"
    "$STUB_PYTHON" "$STUB_INISET" "$@"
}
get_python_exec_prefix() { echo "$FAKE_BIN"; }
database_connection_url() {
    _record database_connection_url "$@"
    case $DATABASE_TYPE in
        postgresql) echo "$BASE_SQL_CONN/$1?client_encoding=utf8" ;;
        *) echo "$BASE_SQL_CONN/$1?charset=utf8" ;;
    esac
}
get_transport_url() { echo "rabbit://stackrabbit:rabbitpw@192.0.2.10:5672/"; }
get_or_create_user() { _record get_or_create_user "$@"; echo "user-$1"; }
get_or_create_service() { _record get_or_create_service "$@"; echo "service-$2"; }
get_or_create_endpoint() { _record get_or_create_endpoint "$@"; echo "endpoint-$2"; }
"""

# devstack's iniset, enough of it: set one option in a real ini file.
INISET = """\
import configparser, sys
path, section, option, value = sys.argv[1:5]
ini = configparser.RawConfigParser()
ini.optionxform = str
ini.read(path)
if section != "DEFAULT" and not ini.has_section(section):
    ini.add_section(section)
ini.set(section, option, value)
with open(path, "w") as f:
    ini.write(f)
"""

FAKE_SCRIPT = """\
#!/usr/bin/env bash
printf -v line '%q ' "$(basename "$0")" "$@"
printf '%s\\t%s\\n' "${PHASE:-?}" "${line% }" >> "$CALLS"
"""


class Devstack:
    """A scratch devstack environment: variables, stubs, fake console scripts."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.calls_file = tmp / "calls.log"
        self.calls_file.touch()
        self.conf_dir = tmp / "etc" / "cascade"
        self.conf = self.conf_dir / "cascade.conf"
        self.bin = tmp / "venv" / "bin"
        self.bin.mkdir(parents=True)
        for name in ("cascade-api", "cascade-sync", "cascade-manage"):
            script = self.bin / name
            script.write_text(FAKE_SCRIPT)
            script.chmod(0o755)
        (tmp / "stubs.sh").write_text(STUBS)
        (tmp / "iniset.py").write_text(INISET)
        self.env = {
            "PATH": os.environ["PATH"], "HOME": str(tmp),
            "CALLS": str(self.calls_file), "FAKE_BIN": str(self.bin),
            "STUB_PYTHON": sys.executable, "STUB_INISET": str(tmp / "iniset.py"),
            # devstack's own variables, as stackrc and a central local.conf set them
            "DEST": str(tmp / "opt"), "DATA_DIR": str(tmp / "data"),
            "STACK_USER": _user(), "PYTHON": sys.executable,
            "SERVICE_HOST": "192.0.2.10", "SERVICE_PROTOCOL": "http",
            "SERVICE_LISTEN_ADDRESS": "0.0.0.0", "SERVICE_TIMEOUT": "60",
            "KEYSTONE_SERVICE_URI": "http://192.0.2.10/identity",
            "SERVICE_PASSWORD": "servicepw", "SERVICE_PROJECT_NAME": "service",
            "SERVICE_DOMAIN_NAME": "Default", "REGION_NAME": "CascadeRegion",
            "DATABASE_TYPE": "postgresql",
            "BASE_SQL_CONN": "postgresql://root:dbpw@192.0.2.10",
            "ENABLE_DEBUG_LOG_LEVEL": "True",
            "ENABLED_SERVICES": "key,postgresql,rabbit", "DISABLED_SERVICES": "",
            # the plugin's settings a local.conf would give
            "CASCADE_CONF_DIR": str(self.conf_dir),
            "CASCADE_REGIONS": "RegionOne:zone-one RegionTwo",
        }

    def run(self, *invocations: tuple[str, ...], **env: str) -> subprocess.CompletedProcess[str]:
        """Source the settings, then plugin.sh once per invocation, in one shell
        (as stack.sh, unstack.sh and clean.sh each do)."""
        lines = ["set -o errexit -o nounset -o pipefail", 'source "$TMP/stubs.sh"',
                 'source "$TOP/devstack/settings"', "export PHASE CALLS"]
        for args in invocations:
            quoted = " ".join(shlex.quote(a) for a in args)
            lines += [f"PHASE={shlex.quote(' '.join(args))}",
                      f'source "$TOP/devstack/plugin.sh" {quoted}']
        return subprocess.run(
            ["bash", "-c", "\n".join(lines)], capture_output=True, text=True, timeout=60,
            env={**self.env, "TMP": str(self.tmp), "TOP": str(TOP), **env})

    def stack(self, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run(*(("stack", phase) for phase in STACK_PHASES), **env)

    def calls(self, name: str | None = None,
              phase: str | None = None) -> list[list[str]]:
        """Recorded calls, as argument lists (the name first)."""
        out = []
        for line in self.calls_file.read_text().splitlines():
            where, _, call = line.partition("\t")
            args = shlex.split(call)
            if (name is None or args[0] == name) and (phase is None or where == phase):
                out.append(args)
        return out

    def phases(self, name: str) -> set[str]:
        return {line.partition("\t")[0] for line in self.calls_file.read_text().splitlines()
                if shlex.split(line.partition("\t")[2])[0] == name}


def _load(path: Path) -> cfg.ConfigOpts:
    """The file as cascade-api and cascade-sync read it (oslo.log's options too)."""
    conf = cfg.ConfigOpts()
    log.register_options(conf)
    return config.load(["--config-file", str(path)], conf=conf)


def _user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def devstack(tmp_path: Path) -> Devstack:
    return Devstack(tmp_path)


@pytest.fixture
def stacked(devstack: Devstack) -> Devstack:
    result = devstack.stack()
    assert result.returncode == 0, result.stderr[-3000:]
    return devstack


def test_settings_defaults(devstack: Devstack) -> None:
    env = {k: v for k, v in devstack.env.items() if not k.startswith("CASCADE_")}
    script = ('source "$TMP/stubs.sh"; source "$TOP/devstack/settings"; '
              'for v in ENABLED_SERVICES CASCADE_DIR CASCADE_CONF_DIR CASCADE_CONF CASCADE_PORT '
              'CASCADE_REGION_NAME CASCADE_SERVICE_HOST CASCADE_DATABASE_NAME CASCADE_REGIONS '
              'CASCADE_USE_CONSTRAINTS; do printf "%s=%s\\n" "$v" "${!v}"; done')
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                            env={**env, "TMP": str(devstack.tmp), "TOP": str(TOP)})
    assert result.returncode == 0, result.stderr
    values = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert values["ENABLED_SERVICES"].split(",")[-2:] == ["cascade-api", "cascade-sync"]
    assert values["CASCADE_DIR"] == f"{devstack.tmp}/opt/cascade"
    assert values["CASCADE_CONF_DIR"] == "/etc/cascade"
    assert values["CASCADE_CONF"] == "/etc/cascade/cascade.conf"
    assert values["CASCADE_PORT"] == "28080"
    assert values["CASCADE_REGION_NAME"] == "CascadeRegion"
    assert values["CASCADE_SERVICE_HOST"] == "192.0.2.10"
    assert values["CASCADE_DATABASE_NAME"] == "cascade"
    assert values["CASCADE_REGIONS"] == ""
    assert values["CASCADE_USE_CONSTRAINTS"] == "False"


def test_install_phase_installs_the_checkout(stacked: Devstack) -> None:
    assert stacked.calls("pip_install") == [
        ["pip_install", "-e", f"{stacked.tmp}/opt/cascade"]]
    assert stacked.phases("pip_install") == {"stack install"}
    assert stacked.calls("setup_develop") == []


def test_install_with_constraints_uses_setup_develop(devstack: Devstack) -> None:
    result = devstack.run(("stack", "install"), CASCADE_USE_CONSTRAINTS="True")
    assert result.returncode == 0, result.stderr
    assert devstack.calls("setup_develop") == [["setup_develop", f"{devstack.tmp}/opt/cascade"]]
    assert devstack.calls("pip_install") == []


def test_configuration_is_what_cascade_reads(stacked: Devstack) -> None:
    assert stacked.phases("iniset") == {"stack post-config"}
    conf = _load(stacked.conf)

    assert conf.database.connection == "postgresql+asyncpg://root:dbpw@192.0.2.10/cascade"
    assert stacked.calls("database_connection_url") == [["database_connection_url", "cascade"]]
    assert conf.transport_url == "rabbit://stackrabbit:rabbitpw@192.0.2.10:5672/"
    assert conf.debug is True
    assert conf.state_path == f"{stacked.tmp}/data/cascade"

    assert conf.regions == ["RegionOne", "RegionTwo"]
    assert conf["region_RegionOne"].availability_zone == "zone-one"
    assert conf["region_RegionTwo"].availability_zone is None  # the region's name

    creds = conf.service_credentials
    assert (creds.auth_url, creds.username, creds.password, creds.project_name,
            creds.user_domain_name, creds.project_domain_name, creds.interface) == (
        "http://192.0.2.10/identity/v3", "cascade", "servicepw", "service",
        "Default", "Default", "public")

    assert (conf.api.bind_host, conf.api.bind_port, conf.api.public_url,
            conf.api.auth_strategy) == ("0.0.0.0", 28080, "http://192.0.2.10:28080", "keystone")

    # [keystone_authtoken] is devstack's to write, for Cascade's service user.
    assert stacked.calls("configure_keystone_authtoken_middleware") == [
        ["configure_keystone_authtoken_middleware", str(stacked.conf), "cascade"]]
    assert stacked.calls("setup_logging") == [["setup_logging", str(stacked.conf)]]


def test_database_url_suits_asyncpg(stacked: Devstack) -> None:
    """devstack's ``?client_encoding=utf8`` would be passed to asyncpg.connect(),
    which has no such argument; the plugin's URL gives asyncpg only what it takes."""
    conf = _load(stacked.conf)
    url = make_url(conf.database.connection)
    engine = create_async_engine(url)
    try:
        assert engine.dialect.driver == "asyncpg"
        _, kwargs = engine.dialect.create_connect_args(url)
    finally:
        engine.sync_engine.dispose()
    assert kwargs == {"host": "192.0.2.10", "user": "root", "password": "dbpw",
                      "database": "cascade"}


def test_service_user_and_endpoints_are_registered(stacked: Devstack) -> None:
    assert stacked.calls("get_or_create_user") == [
        ["get_or_create_user", "cascade", "servicepw", "Default"]]
    assert sorted(stacked.calls("get_or_add_user_project_role")) == [
        ["get_or_add_user_project_role", role, "user-cascade", "service", "Default", "Default"]
        for role in ("admin", "service")]
    assert stacked.calls("get_or_create_service") == [
        ["get_or_create_service", "nova", "compute", "Nova Compute Service"],
        ["get_or_create_service", "glance", "image", "Glance Image Service"],
        ["get_or_create_service", "neutron", "network", "Neutron Service"]]
    assert stacked.calls("get_or_create_endpoint") == [
        ["get_or_create_endpoint", "service-compute", "CascadeRegion",
         "http://192.0.2.10:28080/compute/v2.1"],
        ["get_or_create_endpoint", "service-image", "CascadeRegion",
         "http://192.0.2.10:28080/image"],
        ["get_or_create_endpoint", "service-network", "CascadeRegion",
         "http://192.0.2.10:28080/networking"]]
    for name in ("get_or_create_user", "get_or_create_service", "get_or_create_endpoint"):
        assert stacked.phases(name) == {"stack post-config"}


def test_database_is_created_then_migrated(stacked: Devstack) -> None:
    names = [call[0] for call in stacked.calls(phase="stack post-config")]
    assert stacked.calls("recreate_database") == [["recreate_database", "cascade"]]
    assert stacked.calls("cascade-manage") == [
        ["cascade-manage", "--config-file", str(stacked.conf), "db", "sync"]]
    # After the configuration holds the connection, after the database exists.
    assert names.index("cascade-manage") > names.index("recreate_database")
    assert names.index("cascade-manage") > max(
        i for i, call in enumerate(stacked.calls(phase="stack post-config"))
        if call[:3] == ["iniset", str(stacked.conf), "database"])


def test_extra_phase_runs_both_processes(stacked: Devstack) -> None:
    assert stacked.calls("run_process", phase="stack extra") == [
        ["run_process", "cascade-api",
         f"{stacked.bin}/cascade-api --config-file {stacked.conf}"],
        ["run_process", "cascade-sync",
         f"{stacked.bin}/cascade-sync --config-file {stacked.conf}"]]
    assert stacked.phases("run_process") == {"stack extra"}
    assert stacked.calls("wait_for_service") == [
        ["wait_for_service", "60", "http://192.0.2.10:28080/compute/"]]


def test_early_and_late_phases_change_nothing(stacked: Devstack) -> None:
    for phase in ("stack pre-install", "stack test-config"):
        assert [c[0] for c in stacked.calls(phase=phase)] in ([], ["echo_summary"]), phase


def test_unstack_stops_both_processes(stacked: Devstack) -> None:
    stacked.calls_file.write_text("")
    result = stacked.run(("unstack",))
    assert result.returncode == 0, result.stderr
    assert stacked.calls() == [["stop_process", "cascade-api"],
                               ["stop_process", "cascade-sync"]]
    assert stacked.conf.exists()


def test_clean_removes_configuration_and_state(stacked: Devstack) -> None:
    result = stacked.run(("unstack",), ("clean",))
    assert result.returncode == 0, result.stderr
    assert not stacked.conf_dir.exists()
    assert not (stacked.tmp / "data" / "cascade").exists()


def test_nothing_happens_when_cascade_is_disabled(devstack: Devstack) -> None:
    result = devstack.run(*(("stack", p) for p in STACK_PHASES), ("unstack",), ("clean",),
                          DISABLED_SERVICES="cascade-api,cascade-sync")
    assert result.returncode == 0, result.stderr
    assert devstack.calls() == []


@pytest.mark.parametrize("env, message", [
    ({"DATABASE_TYPE": "mysql", "BASE_SQL_CONN": "mysql+pymysql://root:dbpw@192.0.2.10"},
     "enable_service postgresql"),
    ({"CASCADE_REGIONS": "RegionOne CascadeRegion"}, "Cascade's own catalog region"),
    ({"REGION_NAME": "CascadeRegion", "ENABLED_SERVICES": "key,postgresql,rabbit,n-api"},
     "set CASCADE_REGION_NAME to another region"),
])
def test_refuses_before_installing(devstack: Devstack, env: dict[str, str],
                                   message: str) -> None:
    result = devstack.stack(**env)
    assert result.returncode != 0
    assert message in result.stderr
    assert devstack.phases("die") == {"stack pre-install"}
    assert devstack.calls("pip_install") == [] and not devstack.conf.exists()


def _localrc(sample: str) -> dict[str, str]:
    """The [[local|localrc]] section of a local.conf sample, run as devstack would
    (with recorded enable_plugin/enable_service), and the variables it sets."""
    text = (TOP / "devstack" / sample).read_text()
    section = text.split("[[local|localrc]]", 1)[1].split("\n[[", 1)[0]
    script = ("ENABLED_SERVICES=key,mysql,n-api,g-api,q-svc,horizon; DISABLED_SERVICES=\n"
              "disable_all_services() { ENABLED_SERVICES=; }\n"
              "disable_service() { local s; for s in \"$@\"; do "
              "ENABLED_SERVICES=$(tr , '\\n' <<< \"$ENABLED_SERVICES\" | grep -vx \"$s\" "
              "| paste -sd,); DISABLED_SERVICES+=,$s; done; }\n"
              "enable_service() { local s; for s in \"$@\"; do ENABLED_SERVICES+=,$s; done; }\n"
              "enable_plugin() { PLUGINS+=\" $1\"; }\nPLUGINS=\n"
              + section +
              "\nfor v in ENABLED_SERVICES PLUGINS REGION_NAME KEYSTONE_SERVICE_HOST "
              "KEYSTONE_REGION_NAME HOST_IP CASCADE_REGION_NAME CASCADE_REGIONS; do "
              "printf '%s=%s\\n' \"$v\" \"${!v:-}\"; done")
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


def test_local_conf_samples_agree() -> None:
    central = _localrc("local.conf.central")
    region = _localrc("local.conf.region")
    enabled = set(central["ENABLED_SERVICES"].strip(",").split(","))
    assert {"key", "postgresql", "rabbit", "cascade-api", "cascade-sync"} <= enabled
    assert not enabled & {"mysql", "n-api", "g-api", "q-svc"}
    assert central["PLUGINS"].split() == ["cascade"]
    # The region node uses the central node's Keystone, in the central node's region,
    # and is one of the regions Cascade federates.
    assert region["KEYSTONE_SERVICE_HOST"] == central["HOST_IP"]
    assert region["KEYSTONE_REGION_NAME"] == central["REGION_NAME"] \
        == central["CASCADE_REGION_NAME"]
    assert region["REGION_NAME"] in [e.split(":")[0] for e in central["CASCADE_REGIONS"].split()]
    assert region["PLUGINS"] == ""
    assert "key" in region["ENABLED_SERVICES"].split(",")


def test_shellcheck_is_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    # tools/ensure-services (run by ./run_tests.sh) installs it: missing is a failure.
    assert shellcheck is not None, "shellcheck is not installed: run tools/ensure-services"
    result = subprocess.run([shellcheck, "--shell=bash", "--severity=style",
                             str(PLUGIN), str(SETTINGS)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
