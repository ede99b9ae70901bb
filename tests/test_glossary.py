# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The German texts follow the glossary of doc/glossary.rst."""
import re
from pathlib import Path

import pytest

from .test_translations import ADDONS, MODULES, PLACEHOLDER, entries

GLOSSARY = Path(__file__).resolve().parent.parent / 'doc' / 'glossary.rst'
# "Cancel" of a wizard closes the dialog: Abbrechen
DIALOG = ('wizard_button:',)


def glossary():
    "Return [(English, German, [forbidden patterns])] of the table"
    lines = GLOSSARY.read_text(encoding='utf-8').splitlines()
    rules = [i for i, line in enumerate(lines)
        if re.fullmatch(r'=+( +=+)+', line)]
    assert len(rules) == 3, "the glossary table is not found"
    columns = [m.span() for m in re.finditer(r'=+', lines[rules[0]])]
    terms = []
    for line in lines[rules[1] + 1:rules[2]]:
        cells = [line[start:end if i < len(columns) - 1 else None].strip()
            for i, (start, end) in enumerate(columns)]
        english, german, forbidden = cells
        english = re.sub(r'\s*\(.*\)', '', english)
        terms.append((english, [g.strip() for g in german.split('/')],
                [f.strip() for f in forbidden.split(',') if f.strip()]))
    # the longer term first: it hides the shorter one it holds
    return sorted(terms, key=lambda t: -len(t[0]))


def _pattern(word):
    "A regular expression of a glossary word (* for any ending)"
    return re.compile(
        re.escape(word).replace(r'\*', r'\w*'), re.IGNORECASE)


def test_glossary_parsed():
    terms = dict((e, g) for e, g, _ in glossary())
    assert terms['Lost'] == ['Verloren']
    assert terms['Cancel'] == ['Stornieren', 'Storn']
    assert terms['Order'] == ['Auftrag', 'Aufträg']
    assert len(terms) >= 20


@pytest.mark.parametrize('module', MODULES)
def test_glossary(module):
    "Each English term is said with its German word, never a variant"
    terms = glossary()
    problems = []
    path = ADDONS / module / 'locale' / 'de.po'
    for _, msgctxt, msgid, msgstr in entries(path):
        if not msgid or not msgstr:
            continue
        source = PLACEHOLDER.sub('', msgid)
        text = PLACEHOLDER.sub('', msgstr)
        for english, german, forbidden in terms:
            for word in forbidden:
                if _pattern(word).search(text):
                    problems.append(
                        f"{msgctxt} {msgstr!r}: {word!r}, say {german[0]!r}")
            english_re = re.compile(
                rf'\b{re.escape(english)}', re.IGNORECASE)
            if not english_re.search(source):
                continue
            source = english_re.sub('', source)
            if english in {'Cancel', 'Cancelled'} and (
                    msgctxt.startswith(DIALOG)):
                continue
            if not any(g.lower() in text.lower() for g in german):
                problems.append(
                    f"{msgctxt} {msgid!r} -> {msgstr!r}: say {german[0]!r}")
    assert not problems, '\n'.join(problems)
