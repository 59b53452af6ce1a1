"""Post-processing tests."""

import pytest

pytest.register_assert_rewrite("tests.postprocess.helpers")
