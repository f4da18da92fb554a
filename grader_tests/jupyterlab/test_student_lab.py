"""The student's way: the released files in a folder of their own (no course config), `jupyter lab`
started there, the notebook opened, Run -> Restart Kernel and Run All Cells, then nbgrader's
Validate button: it shows the visible tests' one-sentence messages (or Success), for a right and a
wrong answer. Real server, real clicks, Debian's Chromium. Also `nbgrader validate` typed in that
folder: the same messages, whole (the released nbgrader_config.py)."""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ASSIGNMENT, CORPUS, REPO
from lab import ARTIFACTS, browser_page, keep, lab_server, open_lab
import snippets

pytestmark = [pytest.mark.slow, pytest.mark.browser]

RELEASE = REPO / "release" / ASSIGNMENT
CORRECT, WRONG = "correct/add_method", "wrong/answer_as_string"
# what answer_as_string's visible test says (source/embeddings/embeddings.ipynb, q1_param_count)
WRONG_MESSAGE = "AssertionError: trainable_params_model2 is '40': it must be a whole number such as 12."


def student_folder(dest, snippet):
    """What a student has: the released files, their answers in the notebook."""
    dest.mkdir(parents=True)
    for path in RELEASE.iterdir():
        if path.is_file():
            shutil.copy(path, dest)
    snippets.write_submission(snippet, RELEASE / snippets.NOTEBOOK, dest)
    return dest


RUN_STATE = """() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
    const status = document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status;
    return {ended: /^\\[\\d+\\]:$/.test(prompts[0] || '') && !prompts.some(p => p.includes('*')) && status === 'idle',
            nothing_ran: prompts.every(p => /^\\[ ?\\]:$/.test(p)) && status === 'idle'};
}"""
IDLE_BEFORE_RETRY = 20  # seconds of an idle kernel and no cell queued: the run never started


def restart_and_run_all(page, timeout=300):
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-item[data-command='runmenu:restart-and-run-all']")
    page.click(".jp-Dialog .jp-mod-accept")  # "Restart"
    # Run all stops at the first error, so "done" is: a cell has run, none is queued, the kernel is idle.
    # Under heavy load JupyterLab can restart the kernel and then run nothing (CI saw it twice: no
    # cell ever queued, the kernel idle). A student clicks Run All again, and so does the test, once;
    # a run that started and hangs is not retried, it fails.
    deadline, idle_since, retried = time.monotonic() + timeout, None, False
    while True:
        state = page.evaluate(RUN_STATE)
        if state["ended"]:
            break
        now = time.monotonic()
        idle_since = (idle_since or now) if state["nothing_ran"] else None
        if idle_since is not None and now - idle_since > IDLE_BEFORE_RETRY and not retried:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "student-lab-nothing-ran.png"))
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-item[data-command='runmenu:run-all']")
            retried, idle_since = True, None
        assert now < deadline, f"the run did not end in {timeout} s: {state}"
        time.sleep(0.5)
    return page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt", "ps => ps.map(p => p.textContent.trim())")


def visible_messages(page):
    """The last line of each error shown under a cell: the one-sentence message."""
    texts = page.eval_on_selector_all(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']", "els => els.map(e => e.innerText)")
    return [text.strip().splitlines()[-1] for text in texts if text.strip()]


def validate(page):
    page.click(".jp-NotebookPanel-toolbar :text-is('Validate')")  # saves the notebook, then validates it
    page.wait_for_selector(".jp-Dialog #validation-message", timeout=300_000)
    page.locator("#validation-message > *").last.scroll_into_view_if_needed()  # the message, for the screenshot
    return page.inner_text(".jp-Dialog-content")


def flat(text):
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("name", [CORRECT, WRONG])
def test_restart_run_all_then_validate_in_jupyterlab(tmp_path, name):
    snippet = snippets.load(CORPUS / f"{name}.py")
    folder = student_folder(tmp_path / "student", snippet)
    shot = tmp_path / "validate.png"
    with lab_server(folder, tmp_path / "server.log") as (url, token), browser_page() as page:
        open_lab(page, url, token, snippets.NOTEBOOK)
        page.wait_for_selector(".jp-NotebookPanel-toolbar :text-is('Validate')")
        prompts = restart_and_run_all(page)
        shown = visible_messages(page)
        result = validate(page)
        page.screenshot(path=str(shot))
        keep(shot, f"validate-{snippet.name}.png")
    if name == CORRECT:
        assert shown == [], shown
        assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), prompts  # every cell ran
        assert "Success! Your notebook passes all the tests." in result
        assert "failed" not in result
    else:
        # the run stops at the failing test, which says what is wrong; Validate shows that sentence whole
        assert shown == [WRONG_MESSAGE], shown
        assert "Success" not in result
        assert flat(WRONG_MESSAGE) in flat(result), result
        # ...and the later test the run never reached (no model3 yet), whole as well
        assert "AssertionError: model3 is not defined or still None: build it in the cell above with " \
               "Sequential([...]) and run that cell." in flat(result), result
    # the server validated the file the browser saved: what the student ran is what was checked
    assert "Validating" in (tmp_path / "server.log").read_text()


def test_nbgrader_validate_in_the_students_folder_shows_whole_messages(tmp_path):
    """Typed in the student's own folder (no course config): each test's sentence on one line, not cut
    at nbgrader's default 90 characters; the released nbgrader_config.py is what does it."""
    folder = student_folder(tmp_path / "student", snippets.load(CORPUS / f"{WRONG}.py"))
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"))

    def run():
        return subprocess.run([str(bin_dir / "nbgrader"), "validate", snippets.NOTEBOOK], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=600).stdout

    out = run()
    lines = [line.strip() for line in out.splitlines()]
    assert WRONG_MESSAGE in lines, out
    assert "AssertionError: model3 is not defined or still None: build it in the cell above with " \
           "Sequential([...]) and run that cell." in lines, out
    # without the released config the same command cuts them: the file is what makes them whole
    (folder / "nbgrader_config.py").unlink()
    assert WRONG_MESSAGE not in [line.strip() for line in run().splitlines()]
