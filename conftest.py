# Collect the scenario doctests (tests/scenario_*.rst) the way Tryton's
# load_doc_tests does for unittest, because pytest ignores load_tests.
# Unlike load_doc_tests, exceptions are compared with their message: a
# scenario asserts an error by what it says. With DB_CACHE, the databases
# of a run are built once each (share_databases).
import doctest
import json
import sys
import unittest

import pytest

SCENARIO_FLAGS = doctest.REPORT_ONLY_FIRST_FAILURE | doctest.ELLIPSIS


def pytest_configure(config):
    config.addinivalue_line('markers', "scenario: a doctest scenario that "
        "calls activate_modules (see share_databases, forget_scenario)")


def _is_scenario(item):
    return (isinstance(item, ScenarioItem)
        or item.get_closest_marker('scenario') is not None)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # before ModuleTestCase.setUpClass or a scenario creates its database
    if _is_scenario(item) or 'trytond.tests.test_tryton' in sys.modules:
        share_databases()


def pytest_runtest_teardown(item):
    if _is_scenario(item):
        forget_scenario()


def forget_scenario():
    """Drop what a scenario leaves in the process: proteus' set_trytond
    calls Pool.start, which registers Tryton's mixins once more without
    clearing them (trytond 8.0), so that each scenario made every later
    Pool.init slower (14 s after 40 scenarios); and proteus keeps the
    model classes of every configuration. Duplicate mixins are no-ops:
    keeping each once changes nothing else."""
    import proteus
    from trytond.pool import Pool
    for module, mixins in list(Pool.classes_mixin.items()):
        Pool.classes_mixin[module] = list(dict.fromkeys(mixins))
    vars(proteus._MODELS).clear()


def share_databases():
    """With DB_CACHE set, build each database of the run once and copy it
    (Tryton's cache: a SQLite file, a PostgreSQL template or dump):

    - the new database with only ir and res that every activation starts
      from (test_tryton.create_db);
    - a scenario's modules: activate_modules restores the cached
      activation of the same modules without set-up (the one
      ModuleTestCase and the other scenarios of these modules use) or
      builds it with Tryton's activate_module, then runs the set-up
      functions and caches the result as Tryton does.

    The databases are the ones Tryton builds: the same server-side
    activation as the clicks on Activate and Upgrade of activate_modules."""
    import trytond.tests.tools as tools
    from trytond.tests import test_tryton
    if getattr(tools.activate_modules, 'shares_databases', False):
        return
    create_db = test_tryton.create_db
    activate_modules = tools.activate_modules

    def create_db_once(name=test_tryton.DB_NAME, lang='en'):
        if (name != test_tryton.DB_NAME or not test_tryton.DB_CACHE
                or test_tryton.db_exist(name)):
            return create_db(name, lang)
        cache_name = f'--create_db--{lang}'
        if not test_tryton.restore_db_cache(cache_name):
            create_db(name, lang)
            test_tryton.backup_db_cache(cache_name)

    def activate_modules_once(modules, *setup):
        if isinstance(modules, str):
            modules = [modules]
        modules = sorted(modules)
        if not setup or not test_tryton.DB_CACHE:
            return activate_modules(modules, *setup)
        cache_name = '-'.join(modules) + '--' + '|'.join(
            tools._func_name(f) for f in setup)
        if test_tryton.restore_db_cache(cache_name):
            return tools._get_config()
        test_tryton.drop_db()
        test_tryton.activate_module(modules)
        config = tools._get_config()
        for func in setup:
            func(config=config)
        test_tryton.backup_db_cache(cache_name)
        return config
    activate_modules_once.shares_databases = True
    test_tryton.create_db = create_db_once
    tools.activate_modules = activate_modules_once


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
