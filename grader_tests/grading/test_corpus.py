"""Every submission of the corpus gets exactly the score an instructor would give, cell by cell."""
import pytest

from conftest import corpus, plain_sample

pytestmark = pytest.mark.slow  # reads the shared graded classes

GRADED = [s for s in corpus() if s.expected]


def test_the_corpus_is_large_enough():
    assert len(corpus("correct")) >= 6
    assert len(corpus("wrong")) >= 8
    assert len(corpus("hostile")) >= 15


@pytest.mark.parametrize("snippet", GRADED, ids=[s.name for s in GRADED])
def test_each_submission_gets_the_expected_score_per_cell(graded_corpus, snippet):
    assert graded_corpus["scores"].get(snippet.name) == snippet.expected


@pytest.mark.parametrize("snippet", corpus("correct"), ids=lambda s: s.name)
def test_every_correct_variant_gets_full_marks(graded_corpus, snippet):
    scores = graded_corpus["scores"][snippet.name]
    assert sum(scores.values()) == 8


def test_the_instructor_solution_gets_full_marks(graded_corpus):
    assert sum(graded_corpus["scores"]["instructor_solution"].values()) == 8


def test_the_untouched_student_version_gets_zero(graded_corpus):
    assert sum(graded_corpus["scores"]["untouched"].values()) == 0


PLAIN = plain_sample()


@pytest.mark.parametrize("snippet", PLAIN, ids=[s.name for s in PLAIN])
def test_plain_nbgrader_autograde_gives_the_same_scores(plain_graded, snippet):
    """`nbgrader autograde embeddings` from the course root (sandboxed by nbgrader_config.py): the
    honest submissions and the tampering ones."""
    assert plain_graded["scores"].get(snippet.name) == snippet.expected


def test_plain_nbgrader_gives_the_instructor_solution_full_marks(plain_graded):
    assert sum(plain_graded["scores"]["instructor_solution"].values()) == 8


def test_plain_nbgrader_forks_its_kernels_from_one_fork_server(plain_graded):
    """Warm by default (GradingKernelManager.warm_kernels): one fork server for the whole command,
    started by its first kernel (the readiness check's)."""
    assert plain_graded["stderr"].count("kernels are forked warm from a fork server (imports: ") == 1, plain_graded["stderr"][-3000:]
