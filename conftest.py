# Collect the scenario doctests (tests/scenario_*.rst) the way Tryton's
# load_doc_tests does for unittest, because pytest ignores load_tests.
# Unlike load_doc_tests, exceptions are compared with their message: a
# scenario asserts an error by what it says.
import doctest
import json
import unittest

import pytest

SCENARIO_FLAGS = doctest.REPORT_ONLY_FIRST_FAILURE | doctest.ELLIPSIS


def pytest_collect_file(parent, file_path):
    if (file_path.suffix == '.rst'
            and file_path.name.startswith('scenario_')
            and file_path.parent.name == 'tests'):
        return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFile(pytest.File):

    def collect(self):
        config = self.path.with_suffix('.json')
        if config.exists():
            globs_list = json.loads(config.read_text())
        else:
            globs_list = [{}]
        for index, globs in enumerate(globs_list):
            name = self.path.stem
            if len(globs_list) > 1:
                name += f'[{index}]'
            yield ScenarioItem.from_parent(self, name=name, globs=globs)


class ScenarioFailure(Exception):
    pass


class ScenarioItem(pytest.Item):

    def __init__(self, *, globs, **kwargs):
        super().__init__(**kwargs)
        self.globs = globs

    def runtest(self):
        from trytond import backend
        from trytond.tests.test_tryton import (
            STRIP_DECIMAL,
            doctest_checker,
            doctest_setup,
            doctest_teardown,
        )
        flags = SCENARIO_FLAGS
        if backend.name == 'sqlite':
            flags |= STRIP_DECIMAL
        suite = doctest.DocFileSuite(
            str(self.path), module_relative=False, encoding='utf-8',
            globs=dict(self.globs), setUp=doctest_setup,
            tearDown=doctest_teardown, checker=doctest_checker,
            optionflags=flags)
        result = unittest.TestResult()
        suite.run(result)
        problems = result.failures + result.errors
        if problems:
            raise ScenarioFailure(
                '\n'.join(traceback for _, traceback in problems))
        if not result.testsRun:
            raise ScenarioFailure(f'{self.path} ran no example')

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, ScenarioFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f'scenario: {self.name}'
