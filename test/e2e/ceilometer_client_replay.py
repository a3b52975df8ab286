"""Replays python-ceilometerclient 2.9's requests against OpsHub, as its shell makes them.

usage: ceilometer_client_replay.py BASE_URL TOKEN PROJECT

The query-string and body code below follows the client's ceilometerclient/v2/options.py
(build_url, cli_to_array) and its sample-create / sample-list / meter-list commands;
each step prints one JSON line: {"step", "status", ...what the step observed}.
"""
import json
import re
import sys
from urllib.parse import urlencode

import requests

OP_LOOKUP = {'!=': 'ne', '>=': 'ge', '<=': 'le', '>': 'gt', '<': 'lt', '=': 'eq'}
OP_SPLIT_RE = re.compile(r'(%s)' % '|'.join(sorted(OP_LOOKUP.keys(), key=len, reverse=True)))
DATA_TYPE_RE = re.compile(r'^(string|integer|float|datetime|boolean)(::)(.+)$')


def cli_to_array(cli_query):
    """`-q "a=b;c>=integer::5"` -> [{field, op, value, type}], as the client parses it."""
    opts = []
    for q in cli_query.split(';'):
        field, operator, value = OP_SPLIT_RE.split(q, maxsplit=1)
        typed = DATA_TYPE_RE.match(value.strip())
        opt = {'field': field.strip(), 'op': OP_LOOKUP[operator]}
        opt['type'], opt['value'] = typed.group(1, 3) if typed else ('', value.strip())
        opts.append(opt)
    return opts


def build_url(path, q, params=None):
    """Each of q.field/op/type/value repeated, names sorted, urlencoded with doseq."""
    if q:
        query_params = {'q.field': [], 'q.value': [], 'q.op': [], 'q.type': []}
        for query in q:
            for name in ['field', 'op', 'value', 'type']:
                query_params['q.%s' % name].append(query.get(name, ''))
        path += '?' + urlencode(sorted(query_params.items(), key=lambda x: x[0]), doseq=True)
        for p in params or []:
            path += '&%s' % p
    elif params:
        path += '?' + '&'.join(params)
    return path


base, token, project = sys.argv[1], sys.argv[2], sys.argv[3]
session = requests.Session()
session.headers.update({'X-Auth-Token': token, 'Content-Type': 'application/json', 'Accept': 'application/json'})


def out(step, r, **seen):
    print(json.dumps(dict(step=step, status=r.status_code, **seen)), flush=True)


# ceilometer sample-create -m cpu_util --meter-type gauge --meter-unit % --sample-volume 12.5
#   -r vm-1 --project-id P --resource-metadata '{"flavor": ...}' --timestamp ...
ids = []
for i, (vm, flavor, vcpus) in enumerate([('vm-1', 'm1.large', 4), ('vm-2', 'm1.small', 1), ('vm-1', 'm1.large', 4)]):
    fields = {
        'counter_name': 'cpu_util', 'counter_type': 'gauge', 'counter_unit': '%',
        'counter_volume': '%s.5' % (12 + i),  # argparse hands the client a string
        'resource_id': vm, 'project_id': project,
        'resource_metadata': json.loads('{"flavor": {"name": "%s"}, "vcpus": %d, "ready": true}' % (flavor, vcpus)),
        'timestamp': '2016-03-01T00:%02d:00' % (i * 10),
    }
    r = session.post(base + '/v2/meters/cpu_util', json=[fields])
    body = r.json()
    ids.append(body[0]['message_id'] if r.ok else None)
    out('sample-create-%d' % i, r, volume=body[0]['counter_volume'] if r.ok else body, source=body[0].get('source') if r.ok else None)

# ceilometer sample-create with a volume that is no number
r = session.post(base + '/v2/meters/cpu_util', json=[dict(fields, counter_volume='twelve')])
out('sample-create-bad-volume', r, message=r.json()['error']['message'])


def sample_list(step, query, meter=None, limit=None):
    params = ['limit=%s' % limit] if limit else []
    path = '/v2/meters/%s' % meter if meter else '/v2/samples'
    r = session.get(base + build_url(path, cli_to_array(query), params))
    body = r.json()
    vols = [s['counter_volume' if meter else 'volume'] for s in body] if r.ok else body
    out(step, r, volumes=vols, url=build_url(path, cli_to_array(query), params))


p = 'project_id=%s' % project
# ceilometer sample-list -q 'metadata.flavor.name=m1.large'   (new samples API)
sample_list('metadata', p + ';metadata.flavor.name=m1.large')
# ceilometer sample-list -m cpu_util -q 'resource_metadata.flavor.name=m1.large' -l 1  (old API)
sample_list('resource_metadata-old', p + ';resource_metadata.flavor.name=m1.large', meter='cpu_util', limit=1)
# typed values: integer::, string::, boolean::
sample_list('metadata-integer', p + ';metadata.vcpus=integer::4')
sample_list('metadata-string', p + ';metadata.vcpus=string::4')
sample_list('metadata-boolean', p + ';metadata.ready=boolean::true')
sample_list('metadata-ne', p + ';metadata.vcpus!=4')
# message_id and search_offset
sample_list('message_id', 'message_id=%s' % ids[1])
sample_list('search_offset', p + ';timestamp>=2016-03-01T00:15:00;timestamp<=2016-03-01T00:15:00;search_offset=5')
# -q 'project_id=other;project_id=P': the last one wins
sample_list('project-twice', 'project_id=nobody;project_id=%s' % project)

# ceilometer sample-show <id>
r = session.get(base + '/v2/samples/%s' % ids[0])
out('sample-show', r, id=r.json().get('id'), metadata=r.json().get('metadata'))

# ceilometer meter-list --unique True -q project_id=P
r = session.get(base + build_url('/v2/meters', cli_to_array(p), ['unique=%s' % str(True)]))
out('meter-list-unique', r, meters=r.json())
r = session.get(base + build_url('/v2/meters', cli_to_array(p)))
out('meter-list', r, resources=sorted(m['resource_id'] for m in r.json()))
