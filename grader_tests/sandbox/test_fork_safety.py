"""Kernels forked in a row from the warm template (the fork server, with the lab's warm_imports)
all start and finish, and nothing of one kernel's TensorFlow/Keras state reaches the next.

TensorFlow is not fork-safe once it has run or even traced an op (tensorflow/tensorflow#2448,
#51832): a template that did would make its children hang in their first predict. This test
catches that (every kernel has a time bound), and a template that kept state between kernels.
"""
import asyncio
import time

import pytest

from labgrader.batch import task
from labgrader.config import load_course_config
from labgrader.lab import load_lab
from labgrader.kernels import forkserver
from labgrader.kernels.manager import GradingKernelManager

from conftest import REPO

pytestmark = pytest.mark.slow

KERNELS = 12
BOUND = 60  # seconds for one kernel: start, the cell, shutdown (a quiet machine needs ~2)

# What a fresh kernel must see, then what it leaves behind for a leaky template to pass on.
CELL = """
import sys
import numpy as np
import tensorflow as tf
import keras
fresh = {
    "marker": getattr(keras, "_lg_leaked", None),
    "global": "_lg_leaked" in globals(),
    "tf_eager_flag": tf.config.functions_run_eagerly(),
    "dense_name": keras.layers.Dense(1).name,          # keras's name counters start at zero
    "model_name": keras.Sequential().name,
    "leaked_module": "_lg_leak_module" in sys.modules,
}
print("FRESH", fresh)
# leave state behind: a module attribute, a global, a module, graph-mode ops, a name counter
keras._lg_leaked = True
_lg_leaked = True
sys.modules["_lg_leak_module"] = sys
tf.config.run_functions_eagerly(True)
x = keras.Input(shape=[1])
model = keras.Model(x, keras.layers.Flatten()(keras.layers.Embedding(10, 4)(x)))
tf.config.run_functions_eagerly(False)
print("PREDICT", model.predict(np.array([[3]]), verbose=0).shape)
"""
EXPECTED = ("FRESH {'marker': None, 'global': False, 'tf_eager_flag': False, 'dense_name': 'dense', "
            "'model_name': 'sequential', 'leaked_module': False}")


async def run_one(config, socket, workdir):
    km = GradingKernelManager(config=config, fork_server=socket)
    await km.start_kernel(cwd=str(workdir))
    client = km.client()
    client.start_channels()
    out = []
    try:
        await client.wait_for_ready(timeout=BOUND)
        reply = await client.execute_interactive(
            CELL, timeout=BOUND,
            output_hook=lambda msg: out.append(msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None)
        return reply["content"]["status"], "".join(out)
    finally:
        client.stop_channels()
        await km.shutdown_kernel(now=True)


def test_kernels_forked_in_a_row_start_finish_and_start_fresh(tmp_path):
    config = load_course_config(REPO)
    lab = load_lab(task.course_directory(config), "embeddings")
    imports = lab.warm_imports
    assert "tensorflow" in imports  # the template this test is about
    with forkserver.Running(imports=imports) as server:
        for i in range(KERNELS):
            started = time.monotonic()
            status, text = asyncio.run(asyncio.wait_for(run_one(config, server.socket, tmp_path), BOUND))
            took = time.monotonic() - started
            assert status == "ok", f"kernel {i}: {text}"
            assert EXPECTED in text, f"kernel {i} did not start fresh: {text}"
            assert "PREDICT (1, 4)" in text, f"kernel {i}: {text}"
            assert took < BOUND, f"kernel {i} took {took:.1f} s"
        assert server.process.poll() is None  # the template itself survived every fork
