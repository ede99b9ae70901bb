# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Every module ships a complete German translation."""
import re
from pathlib import Path

import pytest

ADDONS = Path(__file__).resolve().parent.parent / 'addons'
MODULES = sorted(
    p.name for p in ADDONS.iterdir() if (p / 'tryton.cfg').exists())
PLACEHOLDER = re.compile(r'%\(\w+\)s')


def _unquote(lines):
    return ''.join(
        bytes(line[1:-1], 'utf-8').decode('unicode_escape').encode(
            'latin-1').decode('utf-8')
        for line in lines)


def entries(path):
    "Yield (flags, msgctxt, msgid, msgstr) of a po file"
    block = {'flags': ''}
    current = None
    for line in path.read_text(encoding='utf-8').splitlines() + ['']:
        if not line.strip():
            if 'msgid' in block:
                yield (block['flags'], _unquote(block.get('msgctxt', [])),
                    _unquote(block['msgid']), _unquote(block['msgstr']))
            block, current = {'flags': ''}, None
        elif line.startswith('#,'):
            block['flags'] += line
        elif line.startswith('#'):
            continue
        elif line.startswith('"'):
            block[current].append(line)
        else:
            current, value = line.split(' ', 1)
            block[current] = [value]


@pytest.mark.parametrize('module', MODULES)
def test_german_complete(module):
    "No German entry is missing, fuzzy or loses a placeholder"
    path = ADDONS / module / 'locale' / 'de.po'
    assert path.exists(), f"{module} has no locale/de.po"
    problems = []
    count = 0
    for flags, msgctxt, msgid, msgstr in entries(path):
        if not msgid:
            continue
        count += 1
        if not msgstr:
            problems.append(f"untranslated: {msgctxt} {msgid!r}")
        elif 'fuzzy' in flags:
            problems.append(f"fuzzy: {msgctxt} {msgid!r}")
        elif (sorted(PLACEHOLDER.findall(msgid))
                != sorted(PLACEHOLDER.findall(msgstr))):
            problems.append(f"placeholders differ: {msgctxt} {msgid!r}")
    assert count > 50, f"{module}: only {count} entries"
    assert not problems, '\n'.join(problems)


@pytest.mark.parametrize('module', MODULES)
def test_buttons_labelled(module):
    "Every button of a view shows a label: in the view or its record"
    from xml.etree import ElementTree
    labelled, missing = set(), []
    for path in (ADDONS / module).glob('*.xml'):
        for record in ElementTree.parse(path).iter('record'):
            if record.get('model') != 'ir.model.button':
                continue
            values = {f.get('name'): (f.text or '').strip()
                for f in record.iter('field')}
            if values.get('string'):
                labelled.add(values['name'])
            else:
                missing.append(f"{path.name}: {record.get('id')} has no "
                    "string")
    for path in (ADDONS / module / 'view').glob('*.xml'):
        for button in ElementTree.parse(path).iter('button'):
            if not button.get('string') and (
                    button.get('name') not in labelled):
                missing.append(
                    f"{path.name}: button {button.get('name')} has no label")
    assert not missing, '\n'.join(missing)
