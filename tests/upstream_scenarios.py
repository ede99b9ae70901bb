# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Tryton's own scenario tests of the modules the suite extends, run with
the suite's three modules activated: installing the suite must not break
what standard Tryton allows.

Not collected by `make test` (the file name does not start with test_);
`make test-upstream` runs it. Each upstream scenario calls
trytond.tests.tools.activate_modules, which is wrapped here to add the
suite's modules. The six modules are dependencies of the suite: activating
one of them with the suite activates the same modules as the suite alone,
so the scenarios name only the suite (and the modules outside it, like
bank) and share one activation per set-up through DB_CACHE (conftest.py,
share_databases)."""
import doctest
import functools
import json
import re
import unittest
from pathlib import Path

import pytest
import trytond.modules
import trytond.tests.tools as tools
from trytond import backend
from trytond.modules import get_module_info, get_modules
from trytond.tests.test_tryton import (
    STRIP_DECIMAL,
    doctest_checker,
    doctest_setup,
    doctest_teardown,
)

SUITE = ['crm_lifecycle', 'crm_projects', 'crm_service']
UPSTREAM = [
    'sale', 'sale_opportunity', 'account_invoice', 'project_invoice',
    'sale_complaint', 'timesheet']
MODULES = Path(trytond.modules.__file__).parent
ACTIVATE = re.compile(r"activate_modules\([\s.]*(\[[^\]]*\]|'[^']*')")
pytestmark = pytest.mark.scenario


def _scenarios():
    for module in UPSTREAM:
        for path in sorted((MODULES / module / 'tests').glob(
                    'scenario_*.rst')):
            config = path.with_suffix('.json')
            globs_list = (json.loads(config.read_text())
                if config.exists() else [{}])
            missing = _missing_modules(path)
            marks = [pytest.mark.skip(
                    reason=f"not installed: {', '.join(missing)}")
                ] if missing else []
            for index, globs in enumerate(globs_list):
                name = f'{module}/{path.stem}'
                if len(globs_list) > 1:
                    name += f'[{index}]'
                yield pytest.param(path, globs, id=name, marks=marks)


def _missing_modules(path):
    "Return the modules the scenario activates that are not installed"
    match = ACTIVATE.search(path.read_text(encoding='utf-8'))
    names = re.findall(r"'(\w+)'", match.group(1)) if match else []
    available = set(get_modules())
    return [n for n in names if n not in available]


def _dependencies(modules):
    "Return the modules that activating modules activates"
    found, todo = set(), list(modules)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(get_module_info(name).get('depends', []))
    return found


def activate_with_suite(activate, modules, *setups, **kwargs):
    if isinstance(modules, str):
        modules = [modules]
    with_suite = _dependencies(SUITE)
    return activate(
        sorted(set(SUITE) | (set(modules) - with_suite)), *setups, **kwargs)


@pytest.fixture(autouse=True)
def with_suite(monkeypatch):
    monkeypatch.setattr(tools, 'activate_modules', functools.partial(
            activate_with_suite, tools.activate_modules))


@pytest.mark.parametrize('path, globs', list(_scenarios()))
def test_upstream_scenario(path, globs):
    flags = (doctest.REPORT_ONLY_FIRST_FAILURE | doctest.ELLIPSIS
        | doctest.IGNORE_EXCEPTION_DETAIL)
    if backend.name == 'sqlite':
        flags |= STRIP_DECIMAL
    suite = doctest.DocFileSuite(
        str(path), module_relative=False, encoding='utf-8',
        globs=dict(globs), setUp=doctest_setup, tearDown=doctest_teardown,
        checker=doctest_checker, optionflags=flags)
    result = unittest.TestResult()
    suite.run(result)
    problems = result.failures + result.errors
    assert not problems, '\n'.join(tb for _, tb in problems)
    assert result.testsRun
