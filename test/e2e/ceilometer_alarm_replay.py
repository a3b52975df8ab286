"""Replays python-ceilometerclient 2.9.1's alarm commands against OpsHub, as its shell makes them.

usage: ceilometer_alarm_replay.py BASE_URL TOKEN PROJECT HOOK_URL

With no `alarming` endpoint configured the client sends its alarm requests to the metering
endpoint (ceilometerclient/v2/client.py), i.e. here. The bodies below follow its
v2/shell.py (do_alarm_threshold_create, do_alarm_update, ...) and v2/alarms.py
(AlarmManager.create/update/set_state/get_history): key_with_slash_to_nested_dict,
CREATION_ATTRIBUTES, the legacy kwargs moved into threshold_rule, merge_nested_dict.
Each step prints one JSON line: {"step", "status", ...what the step observed}.
"""
import copy
import json
import re
import sys
from urllib.parse import urlencode

import requests

OP_LOOKUP = {'!=': 'ne', '>=': 'ge', '<=': 'le', '>': 'gt', '<': 'lt', '=': 'eq'}
OP_SPLIT_RE = re.compile(r'(%s)' % '|'.join(sorted(OP_LOOKUP.keys(), key=len, reverse=True)))
DATA_TYPE_RE = re.compile(r'^(string|integer|float|datetime|boolean)(::)(.+)$')
UPDATABLE = ['name', 'description', 'type', 'state', 'severity', 'enabled', 'alarm_actions', 'ok_actions',
             'insufficient_data_actions', 'repeat_actions', 'project_id', 'user_id']
CREATION = UPDATABLE + ['time_constraints']


def cli_to_array(cli_query):
    """options.cli_to_array: `a=b;c>=integer::5` -> [{field, op, value, type}]."""
    if not cli_query:
        return []
    opts = []
    for q in cli_query.split(';'):
        field, operator, value = OP_SPLIT_RE.split(q, maxsplit=1)
        typed = DATA_TYPE_RE.match(value.strip())
        opt = {'field': field.strip(), 'op': OP_LOOKUP[operator]}
        opt['type'], opt['value'] = typed.group(1, 3) if typed else ('', value.strip())
        opts.append(opt)
    return opts


def build_url(path, q):
    """options.build_url: each of q.field/op/type/value repeated, names sorted, doseq."""
    if q:
        params = {'q.field': [], 'q.value': [], 'q.op': [], 'q.type': []}
        for query in q:
            for name in ['field', 'op', 'value', 'type']:
                params['q.%s' % name].append(query.get(name, ''))
        path += '?' + urlencode(sorted(params.items(), key=lambda x: x[0]), doseq=True)
    return path


def merge_nested_dict(dest, source, depth=0):
    """common/utils.merge_nested_dict."""
    for (key, value) in source.items():
        if isinstance(value, dict) and depth:
            merge_nested_dict(dest[key], value, depth=(depth - 1))
        else:
            dest[key] = value


base, token, project, hook = sys.argv[1:5]
session = requests.Session()
session.headers.update({'X-Auth-Token': token, 'Content-Type': 'application/json', 'Accept': 'application/json'})


def out(step, r, **seen):
    print(json.dumps(dict(step=step, status=r.status_code, **seen)), flush=True)


def fault(r):
    try:
        return r.json()['error_message']['faultstring']
    except Exception:
        return r.text


# ceilometer alarm-threshold-create --name cpu-replay -m cpu_util --threshold 70 --comparison-operator gt
#   --statistic avg --period 60 --evaluation-periods 2 --alarm-action HOOK --ok-action HOOK
#   -q resource_id=vm-1 --project-id P
#   --time-constraint 'name=always;start=* * * * *;duration=60;timezone=UTC'
fields = {
    'name': 'cpu-replay',
    'project_id': project,
    'alarm_actions': [hook],
    'ok_actions': [hook],
    # args_array_to_list_of_dicts: every value a string
    'time_constraints': [{'name': 'always', 'start': '* * * * *', 'duration': '60', 'timezone': 'UTC'}],
    'threshold_rule': {'meter_name': 'cpu_util', 'threshold': 70.0, 'comparison_operator': 'gt', 'statistic': 'avg',
                       'period': 60, 'evaluation_periods': 2, 'query': cli_to_array('resource_id=vm-1')},
    'type': 'threshold',
}
new = dict((k, v) for (k, v) in fields.items() if k in CREATION or k.endswith('_rule'))
r = session.post(base + '/v2/alarms', json=new)
alarm = r.json()
alarm_id = alarm.get('alarm_id')
out('alarm-threshold-create', r, alarm=alarm)

# the same name again: Aodh's 409
r = session.post(base + '/v2/alarms', json=new)
out('alarm-threshold-create-again', r, message=fault(r))

# ceilometer alarm-combination-create ...: refused
r = session.post(base + '/v2/alarms', json={'name': 'combo', 'type': 'combination',
                                          'combination_rule': {'alarm_ids': [alarm_id], 'operator': 'and'}})
out('alarm-combination-create', r, message=fault(r))

# ceilometer alarm-list -q name=cpu-replay
r = session.get(base + build_url('/v2/alarms', cli_to_array('name=cpu-replay')))
out('alarm-list', r, names=[a['name'] for a in r.json()], url=build_url('/v2/alarms', cli_to_array('name=cpu-replay')))

# ceilometer alarm-show ID
r = session.get(base + '/v2/alarms/%s' % alarm_id)
out('alarm-show', r, alarm=r.json())

# ceilometer alarm-update ID --threshold 75 --severity critical  (the legacy command)
kwargs = {'threshold': 75.0, 'severity': 'critical'}
kwargs.setdefault('threshold_rule', {})['threshold'] = kwargs.pop('threshold')
updated = session.get(base + '/v2/alarms/%s' % alarm_id).json()
updated['time_constraints'] = [dict(tc) for tc in updated.get('time_constraints', [])]
kwargs = dict((k, v) for k, v in kwargs.items() if k in updated and (k in UPDATABLE or k.endswith('_rule')))
merge_nested_dict(updated, kwargs, depth=1)
r = session.put(base + '/v2/alarms/%s' % alarm_id, json=updated)
out('alarm-update', r, alarm=r.json())

# ceilometer alarm-state-set ID --state alarm ; alarm-state-get ID
r = session.put(base + '/v2/alarms/%s/state' % alarm_id, json='alarm')
out('alarm-state-set', r, state=r.json())
r = session.put(base + '/v2/alarms/%s/state' % alarm_id, json='nonsense')
out('alarm-state-set-bad', r, message=fault(r))
r = session.get(base + '/v2/alarms/%s/state' % alarm_id)
out('alarm-state-get', r, state=r.json())
# back to insufficient data, for the evaluation that follows in the test
session.put(base + '/v2/alarms/%s/state' % alarm_id, json='insufficient data')

# ceilometer alarm-history ID
r = session.get(base + build_url('/v2/alarms/%s/history' % alarm_id, []))
out('alarm-history', r, types=[h['type'] for h in r.json()], details=[json.loads(h['detail']) for h in r.json()])

print(json.dumps({'step': 'alarm-id', 'status': 0, 'alarm_id': alarm_id}), flush=True)
if len(sys.argv) > 5 and sys.argv[5] == 'delete':
    # ceilometer alarm-delete ID ; alarm-show ID (the client turns the 404 into "Alarm not found")
    r = session.delete(base + '/v2/alarms/%s' % alarm_id)
    out('alarm-delete', r, body=r.text)
    r = session.get(base + '/v2/alarms/%s' % alarm_id)
    out('alarm-show-deleted', r, message=fault(r))
