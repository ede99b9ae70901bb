# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Tryton's own scenario tests of the modules the suite extends, run with
the suite's three modules activated: installing the suite must not break
what standard Tryton allows.

Not collected by `make test` (the file name does not start with test_);
`make test-upstream` runs it. Each upstream scenario calls
trytond.tests.tools.activate_modules, which is wrapped here to add the
suite's modules."""
import doctest
import json
import re
import unittest
from pathlib import Path

import pytest
import trytond.modules
import trytond.tests.tools as tools
from trytond import backend
from trytond.modules import get_modules
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


_activate_modules = tools.activate_modules


def activate_with_suite(modules, *setups, **kwargs):
    if isinstance(modules, str):
        modules = [modules]
    return _activate_modules(
        sorted(set(modules) | set(SUITE)), *setups, **kwargs)


@pytest.fixture(autouse=True)
def with_suite(monkeypatch):
    monkeypatch.setattr(tools, 'activate_modules', activate_with_suite)


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
