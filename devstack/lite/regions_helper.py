#!/usr/bin/env python3
"""Python side of the Cascade real-regions kit (devstack/lite/regions).

Run with the kit venv's python; the bash entrypoint exports the settings it
needs (CASCADE_REGIONS_HOME, OS_CLIENT_CONFIG_FILE and the CASCADE_REGIONS_DB_*
variables).  Everything that talks to the OpenStack APIs goes through one
openstacksdk process, which is much faster than one `openstack` CLI call per
object.

Commands:
  dbs        create the MariaDB databases (idempotent)
  drop-dbs   drop them (used by `regions clean`)
  image      write the deterministic test image file
  catalog    Keystone regions, services, endpoints, projects, users, roles
  computes   wait until each region's nova-compute is registered, reported
             to Placement and mapped to cell1 (runs discover_hosts if needed)
  seed       flavors and the test image in both regions
  smoke      boot and delete servers in each region directly
"""

import argparse
import hashlib
import os
import subprocess
import sys
import time
import uuid

HOME = os.environ.get('CASCADE_REGIONS_HOME',
                      os.path.expanduser('~/.cascade-regions'))
PASSWORD = 'secret'
KEYSTONE_URL = 'http://127.0.0.1:25000/v3'

# prefix -> (region name, first two digits of its ports)
REGIONS = {'r1': ('RegionOne', 25), 'r2': ('RegionTwo', 26)}
CASCADE_REGION = 'CascadeRegion'
# Each region's external (provider) network for router gateways and floating
# IPs: flat on physnet 'public', with its own address range per region.
EXTERNAL_NETWORK = 'public'
EXTERNAL_CIDRS = {'r1': '172.24.4.0/24', 'r2': '172.24.5.0/24'}
CASCADE_URL = 'http://127.0.0.1:28080'

# service type -> (service name, port suffix, path)
REGION_SERVICES = {
    'image': ('glance', 292, ''),
    'placement': ('placement', 778, ''),
    'compute': ('nova', 774, '/v2.1'),
    'network': ('neutron', 696, ''),
}
CASCADE_SERVICES = {
    'compute': '/compute/v2.1',
    'image': '/image',
    'network': '/networking',
}
INTERFACES = ('public', 'internal', 'admin')

SERVICE_USERS = ('glance', 'nova', 'placement', 'neutron', 'cascade')
DEMO_USERS = {'demo': 'demo', 'alt_demo': 'alt_demo'}   # user -> project

# id, name, ram MB, disk GB, vcpus -- as devstack creates them
FLAVORS = (
    ('1', 'm1.tiny', 512, 1, 1),
    ('2', 'm1.small', 2048, 20, 1),
    ('3', 'm1.medium', 4096, 40, 2),
    ('4', 'm1.large', 8192, 80, 4),
    ('5', 'm1.xlarge', 16384, 160, 8),
    ('42', 'm1.nano', 128, 1, 1),
    ('84', 'm1.micro', 192, 1, 1),
)

IMAGE_ID = '8a1a2f3e-6c1d-4f6b-9a55-2f0e7d1c0a01'
IMAGE_NAME = 'cirros-0.6.2-x86_64-disk'
IMAGE_SIZE = 1024 * 1024
IMAGE_SEED = b'cascade-regions-test-image-v1'
IMAGE_FILE = os.path.join(HOME, 'images', IMAGE_NAME + '.img')


def say(msg):
    print(msg, flush=True)


def fail(msg):
    print('ERROR: ' + msg, file=sys.stderr, flush=True)
    sys.exit(1)


# --------------------------------------------------------------- databases

def db_connect(database=None):
    import pymysql
    return pymysql.connect(
        host=os.environ.get('CASCADE_REGIONS_DB_HOST', '127.0.0.1'),
        port=int(os.environ.get('CASCADE_REGIONS_DB_PORT', '3306')),
        user=os.environ.get('CASCADE_REGIONS_DB_USER', 'root'),
        password=os.environ.get('CASCADE_REGIONS_DB_PASSWORD', ''),
        database=database, autocommit=True, connect_timeout=5)


def database_names():
    names = [os.environ.get('CASCADE_REGIONS_KEYSTONE_DB',
                            'regions_keystone')]
    for prefix in REGIONS:
        names += ['%s_%s' % (prefix, n) for n in (
            'glance', 'placement', 'nova_api', 'nova', 'nova_cell0',
            'neutron')]
    return names


def cmd_dbs(_args):
    with db_connect() as conn, conn.cursor() as cur:
        for name in database_names():
            cur.execute('CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET '
                        'utf8mb4 COLLATE utf8mb4_general_ci' % name)
    say('databases present: ' + ' '.join(database_names()))


def cmd_drop_dbs(_args):
    with db_connect() as conn, conn.cursor() as cur:
        for name in database_names():
            cur.execute('DROP DATABASE IF EXISTS `%s`' % name)
    say('databases dropped: ' + ' '.join(database_names()))


# ------------------------------------------------------------------- image

def image_bytes():
    """1 MiB of pseudo-random bytes, identical on every machine."""
    out = bytearray()
    counter = 0
    while len(out) < IMAGE_SIZE:
        out += hashlib.sha256(IMAGE_SEED + counter.to_bytes(8, 'big')).digest()
        counter += 1
    return bytes(out[:IMAGE_SIZE])


def cmd_image(_args):
    data = image_bytes()
    os.makedirs(os.path.dirname(IMAGE_FILE), exist_ok=True)
    if not (os.path.exists(IMAGE_FILE)
            and open(IMAGE_FILE, 'rb').read() == data):
        with open(IMAGE_FILE + '.tmp', 'wb') as f:
            f.write(data)
        os.replace(IMAGE_FILE + '.tmp', IMAGE_FILE)
    say('image file %s (%d bytes, md5 %s)'
        % (IMAGE_FILE, len(data), hashlib.md5(data).hexdigest()))


# ----------------------------------------------------------------- catalog

def connect(cloud, region):
    import openstack
    return openstack.connect(cloud=cloud, region_name=region)


def region_url(prefix, service_type):
    _name, suffix, path = REGION_SERVICES[service_type]
    return 'http://127.0.0.1:%d%d%s' % (REGIONS[prefix][1], suffix, path)


def cmd_catalog(_args):
    t0 = time.time()
    conn = connect('regions-admin', 'RegionOne')
    idn = conn.identity
    created = []

    have = {r.id for r in idn.regions()}
    for rid in [r[0] for r in REGIONS.values()] + [CASCADE_REGION]:
        if rid not in have:
            idn.create_region(id=rid, description='Cascade real-regions kit')
            created.append('region ' + rid)

    services = {s.type: s for s in idn.services()}
    wanted = {'identity': 'keystone'}
    wanted.update({t: v[0] for t, v in REGION_SERVICES.items()})
    for stype, sname in wanted.items():
        if stype not in services:
            services[stype] = idn.create_service(name=sname, type=stype,
                                                 enabled=True)
            created.append('service ' + stype)

    want_eps = {}
    for prefix, (rname, _base) in REGIONS.items():
        for stype in REGION_SERVICES:
            want_eps[(stype, rname)] = region_url(prefix, stype)
    for stype, path in CASCADE_SERVICES.items():
        want_eps[(stype, CASCADE_REGION)] = CASCADE_URL + path
    for rname in [r[0] for r in REGIONS.values()] + [CASCADE_REGION]:
        want_eps[('identity', rname)] = KEYSTONE_URL

    have_eps = {}
    for ep in idn.endpoints():
        have_eps[(ep.service_id, ep.region_id, ep.interface)] = ep
    for (stype, rname), url in sorted(want_eps.items()):
        sid = services[stype].id
        for iface in INTERFACES:
            ep = have_eps.get((sid, rname, iface))
            if ep is None:
                idn.create_endpoint(service_id=sid, region_id=rname,
                                    interface=iface, url=url, enabled=True)
                created.append('endpoint %s/%s/%s' % (rname, stype, iface))
            elif ep.url != url:
                idn.update_endpoint(ep, url=url)
                created.append('endpoint url %s/%s/%s' % (rname, stype,
                                                          iface))

    roles = {r.name: r for r in idn.roles()}
    for rname in ('admin', 'member', 'reader', 'service'):
        if rname not in roles:
            roles[rname] = idn.create_role(name=rname)
            created.append('role ' + rname)

    domain = idn.find_domain('default') or idn.find_domain('Default')
    projects = {p.name: p for p in idn.projects(domain_id=domain.id)}
    for pname in ['service'] + list(DEMO_USERS.values()):
        if pname not in projects:
            projects[pname] = idn.create_project(
                name=pname, domain_id=domain.id,
                description='Cascade real-regions kit')
            created.append('project ' + pname)

    users = {u.name: u for u in idn.users(domain_id=domain.id)}

    def ensure_user(name, project):
        if name not in users:
            users[name] = idn.create_user(
                name=name, password=PASSWORD, domain_id=domain.id,
                default_project_id=project.id, enabled=True)
            created.append('user ' + name)
        return users[name]

    for uname in SERVICE_USERS:
        user = ensure_user(uname, projects['service'])
        for rname in ('admin', 'service'):
            idn.assign_project_role_to_user(projects['service'], user,
                                            roles[rname])
    for uname, pname in DEMO_USERS.items():
        user = ensure_user(uname, projects[pname])
        idn.assign_project_role_to_user(projects[pname], user,
                                        roles['member'])
    admin = users['admin']
    idn.assign_project_role_to_user(projects['admin'], admin, roles['admin'])

    say('catalog ready in %.1fs (%d objects created)'
        % (time.time() - t0, len(created)))


# ---------------------------------------------------------------- computes

def compute_state(prefix, host):
    """Return (service heartbeat epoch or None, disabled, node uuid or None,
    resource provider with inventory, host mapped)."""
    with db_connect() as conn, conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(
            'SELECT UNIX_TIMESTAMP(COALESCE(updated_at, created_at)), '
            'disabled FROM `{p}_nova`.services WHERE host=%s AND '
            "`binary`='nova-compute' AND deleted=0".format(p=prefix), (host,))
        row = cur.fetchone()
        beat, disabled = (float(row[0]), bool(row[1])) if row else (None,
                                                                    False)
        cur.execute('SELECT uuid FROM `{p}_nova`.compute_nodes WHERE host=%s '
                    'AND deleted=0'.format(p=prefix), (host,))
        row = cur.fetchone()
        node = row[0] if row else None
        rp_ok = False
        if node:
            cur.execute(
                'SELECT COUNT(*) FROM `{p}_placement`.resource_providers rp '
                'JOIN `{p}_placement`.inventories i ON '
                'i.resource_provider_id = rp.id WHERE rp.uuid=%s'.format(
                    p=prefix), (node,))
            rp_ok = cur.fetchone()[0] > 0
        cur.execute('SELECT COUNT(*) FROM `{p}_nova_api`.host_mappings '
                    'WHERE host=%s'.format(p=prefix), (host,))
        mapped = cur.fetchone()[0] > 0
    return beat, disabled, node, rp_ok, mapped


def discover_hosts(prefix):
    conf = os.path.join(HOME, 'etc', prefix, 'nova', 'nova.conf')
    exe = os.path.join(os.path.dirname(sys.executable), 'nova-manage')
    res = subprocess.run([exe, '--config-file', conf, 'cell_v2',
                          'discover_hosts'], capture_output=True, text=True)
    if res.returncode != 0:
        fail('nova-manage cell_v2 discover_hosts (%s) failed: %s'
             % (prefix, (res.stderr or res.stdout)[-2000:]))


def cmd_computes(args):
    since = {}
    for item in args.since or []:
        prefix, _, epoch = item.partition('=')
        since[prefix] = float(epoch)
    deadline = time.time() + args.timeout
    pending = {p: 'not registered yet' for p in REGIONS}
    discovered = set()
    while pending:
        for prefix in sorted(pending):
            host = '%s-compute' % prefix
            # A heartbeat older than service_down_time (60 s) means "down";
            # after a (re)start it must come from the new process.
            fresh_after = since.get(prefix, time.time() - 60) - 1
            beat, disabled, node, rp_ok, mapped = compute_state(prefix, host)
            if beat is None or beat < fresh_after:
                pending[prefix] = 'no heartbeat from nova-compute %s' % host
            elif disabled:
                pending[prefix] = 'nova-compute %s is disabled' % host
            elif not node:
                pending[prefix] = 'no compute node for %s' % host
            elif not rp_ok:
                pending[prefix] = 'no Placement inventory for %s' % host
            elif not mapped:
                if prefix in discovered:
                    pending[prefix] = ('%s not mapped to a cell after '
                                       'discover_hosts' % host)
                else:
                    discover_hosts(prefix)
                    discovered.add(prefix)
                    continue
            else:
                say('%s (%s): nova-compute %s registered and mapped'
                    % (REGIONS[prefix][0], prefix, host))
                del pending[prefix]
        if pending:
            if time.time() > deadline:
                for prefix, why in sorted(pending.items()):
                    print('NOT READY %s %s' % (prefix, why), flush=True)
                sys.exit(1)
            time.sleep(1)


# -------------------------------------------------------------------- seed

def cmd_seed(_args):
    import openstack.exceptions as exc
    t0 = time.time()
    data = image_bytes()
    md5 = hashlib.md5(data).hexdigest()
    for prefix, (rname, _base) in sorted(REGIONS.items()):
        conn = connect('regions-admin', rname)
        # Test projects get room for many servers: Cascade's own global quota
        # is what limits tenants; regional defaults (10 instances) would not.
        for project in ('demo', 'alt_demo'):
            pid = conn.identity.find_project(project, ignore_missing=False).id
            conn.set_compute_quotas(pid, instances=-1, cores=-1, ram=-1,
                                    key_pairs=-1)
        for fid, name, ram, disk, vcpus in FLAVORS:
            try:
                conn.compute.get_flavor(fid)
            except exc.NotFoundException:
                conn.compute.create_flavor(id=fid, name=name, ram=ram,
                                           disk=disk, vcpus=vcpus,
                                           is_public=True)
        image = conn.image
        resp = image.get('/images/%s' % IMAGE_ID, raise_exc=False)
        if resp.status_code == 404:
            image.post('/images', json={
                'id': IMAGE_ID, 'name': IMAGE_NAME, 'disk_format': 'qcow2',
                'container_format': 'bare', 'visibility': 'public',
                'min_disk': 0, 'min_ram': 0})
            info = {'status': 'queued'}
        else:
            resp.raise_for_status()
            info = resp.json()
        if info['status'] == 'queued':
            image.put('/images/%s/file' % IMAGE_ID, data=data,
                      headers={'Content-Type': 'application/octet-stream'})
            info = image.get('/images/%s' % IMAGE_ID).json()
        if info['status'] != 'active' or info.get('checksum') != md5:
            fail('%s: image %s is %s with checksum %s (want active, %s)'
                 % (rname, IMAGE_ID, info['status'], info.get('checksum'),
                    md5))
        seed_external_network(conn, EXTERNAL_CIDRS[prefix])
        say('%s: %d flavors, image %s active (md5 %s), external network %s (%s)'
            % (rname, len(FLAVORS), IMAGE_NAME, md5, EXTERNAL_NETWORK,
               EXTERNAL_CIDRS[prefix]))
    say('seeded in %.1fs' % (time.time() - t0))


def seed_external_network(conn, cidr):
    """The region's external network and its floating IP subnet, made once."""
    net = conn.network.find_network(EXTERNAL_NETWORK)
    if net is None:
        net = conn.network.create_network(
            name=EXTERNAL_NETWORK, is_router_external=True,
            provider_network_type='flat', provider_physical_network='public')
    if not net.subnet_ids:
        conn.network.create_subnet(network_id=net.id, name=EXTERNAL_NETWORK + '-v4',
                                   ip_version=4, cidr=cidr, is_dhcp_enabled=False)


# ------------------------------------------------------------------- smoke

def smoke_region(rname, cloud):
    conn = connect(cloud, rname)
    admin = connect('regions-admin', rname)   # sees host and binding details
    tag = 'regions-smoke-%s' % uuid.uuid4().hex[:8]
    net = subnet = port = None
    servers = []
    t0 = time.time()

    def step(msg):
        say('  %-10s %5.1fs  %s' % (rname, time.time() - t0, msg))

    try:
        if conn.compute.find_flavor('42') is None:
            raise RuntimeError('flavor 42 (m1.nano) missing')
        img = conn.image.find_image(IMAGE_ID)
        if img is None or img.status != 'active':
            raise RuntimeError('image %s missing or not active' % IMAGE_ID)
        net = conn.network.create_network(name=tag)
        subnet = conn.network.create_subnet(
            name=tag, network_id=net.id, ip_version=4,
            cidr='10.254.%d.0/24' % (1 if rname == 'RegionOne' else 2))
        port = conn.network.create_port(name=tag, network_id=net.id)
        step('network %s, port %s' % (net.id, port.id))
        servers.append(conn.compute.create_server(
            name=tag + '-nonic', flavor_id='42', image_id=IMAGE_ID,
            networks='none'))
        servers.append(conn.compute.create_server(
            name=tag + '-port', flavor_id='42', image_id=IMAGE_ID,
            networks=[{'port': port.id}]))
        for srv in servers:
            conn.compute.wait_for_server(srv, status='ACTIVE',
                                         failures=['ERROR'], interval=0.5,
                                         wait=120)
            step('server %s ACTIVE on %s' % (
                srv.name, admin.compute.get_server(srv.id).compute_host))
        bound = admin.network.get_port(port.id)
        if (bound.device_id != servers[1].id
                or bound.binding_vif_type != 'ovs'
                or bound.status != 'ACTIVE'):
            raise RuntimeError('port %s not bound as expected: device_id=%s '
                               'vif_type=%s status=%s' % (
                                   port.id, bound.device_id,
                                   bound.binding_vif_type, bound.status))
        step('port bound (vif_type ovs, ACTIVE, fixed_ips %s)'
             % [ip['ip_address'] for ip in bound.fixed_ips])
    finally:
        for srv in servers:
            try:
                conn.compute.delete_server(srv)
            except Exception as e:  # noqa: BLE001 - best-effort cleanup
                say('  cleanup: delete server %s: %s' % (srv.id, e))
        for srv in servers:
            try:
                conn.compute.wait_for_delete(srv, interval=0.5, wait=120)
            except Exception as e:  # noqa: BLE001
                say('  cleanup: wait for delete %s: %s' % (srv.id, e))
        if servers:
            step('servers deleted')
        for kind, obj in (('port', port), ('subnet', subnet),
                          ('network', net)):
            if obj is None:
                continue
            try:
                getattr(conn.network, 'delete_' + kind)(obj,
                                                        ignore_missing=True)
            except Exception as e:  # noqa: BLE001
                say('  cleanup: delete %s %s: %s' % (kind, obj.id, e))
        if net is not None:
            step('network deleted')


def cmd_smoke(args):
    failed = []
    for prefix, (rname, _base) in sorted(REGIONS.items()):
        say('%s (%s), as %s:' % (rname, prefix, args.cloud))
        try:
            smoke_region(rname, args.cloud)
        except Exception as e:  # noqa: BLE001 - report every region
            print('  %s FAILED: %s: %s' % (rname, type(e).__name__, e),
                  file=sys.stderr, flush=True)
            failed.append(rname)
    if failed:
        fail('smoke failed in ' + ', '.join(failed))
    say('smoke OK in ' + ', '.join(r[0] for r in REGIONS.values()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    sub.add_parser('dbs').set_defaults(func=cmd_dbs)
    sub.add_parser('drop-dbs').set_defaults(func=cmd_drop_dbs)
    sub.add_parser('image').set_defaults(func=cmd_image)
    sub.add_parser('catalog').set_defaults(func=cmd_catalog)
    sub.add_parser('seed').set_defaults(func=cmd_seed)
    p = sub.add_parser('computes')
    p.add_argument('--timeout', type=float, default=120)
    p.add_argument('--since', action='append',
                   help='PREFIX=EPOCH: nova-compute (re)started at EPOCH')
    p.set_defaults(func=cmd_computes)
    p = sub.add_parser('smoke')
    p.add_argument('--cloud', default='regions-demo')
    p.set_defaults(func=cmd_smoke)
    args = ap.parse_args()
    args.func(args)


if __name__ == '__main__':
    main()
