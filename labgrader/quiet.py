"""TensorFlow, quiet: it logs to stderr at import, and nbgrader scores a graded cell 0 for any
stderr. One set of variables for every process that imports it: kernels get all of them (their
environment, ``c.GradingKernelManager.kernel_env``), the grader's own processes the ones read
at import."""
from __future__ import annotations

import os

QUIET_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "PYTHONWARNINGS": "ignore",
                    "TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "OMP_NUM_THREADS": "1"}
READ_AT_IMPORT = ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")


def quiet_tensorflow_import() -> None:
    """Call before this process imports TensorFlow (a variable already set is kept)."""
    for name in READ_AT_IMPORT:
        os.environ.setdefault(name, QUIET_TENSORFLOW[name])
