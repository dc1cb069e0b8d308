"""The conftest skip policy: under CI=true a skip fails unless the test declares why it may skip."""
import pytest

pytest_plugins = ["pytester"]

TESTS = '''
import pytest

def test_passes():
    pass

def test_skips_silently():
    pytest.skip("dependency missing")

@pytest.mark.may_skip(reason="needs a GPU")
def test_declares_why():
    pytest.skip("no GPU here")

@pytest.mark.may_skip
def test_declares_no_reason():
    pytest.skip("no reason given")

@pytest.fixture
def needs_module():
    pytest.importorskip("no_such_module_for_skip_policy")

def test_skips_in_a_fixture(needs_module):
    pass
'''


@pytest.fixture
def suite(pytester):
    pytester.makeconftest("from tests.conftest import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401")
    pytester.makeini("[pytest]\nmarkers =\n    may_skip(reason): may skip for the stated reason\n")
    pytester.makepyfile(test_cases=TESTS, test_module_skip='import pytest\npytest.importorskip("no_such_module_for_skip_policy")\n')
    return pytester


def test_under_ci_only_declared_skips_pass(suite, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest("-p", "no:cacheprovider", "--continue-on-collection-errors")
    result.assert_outcomes(passed=1, skipped=1, failed=2, errors=2)  # a fixture or module skip: an error
    result.stdout.fnmatch_lines(["*test_skips_silently skipped under CI=true*", "*test_skips_in_a_fixture skipped under CI=true*"])


def test_outside_ci_skips_stay_skips(suite, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    suite.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1, skipped=5)
