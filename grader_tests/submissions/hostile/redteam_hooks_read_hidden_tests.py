# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# flag: none
# twin: list_and_flatten
# A right answer plus every way student code can watch the source the kernel runs, kept by a cell after the
# tests (in a file of the working copy, and printed where the feedback would show it): pre/post_run_cell hooks
# (IPython passes them a cell's whole source, even with store_history=False), pre/post_execute hooks walking
# the stack (sys._getframe, inspect) for the code being run, an input transformer, an AST transformer, an
# audit hook (compile/exec), the shell's run_cell wrapped, In, _ih, the history database, linecache, and every
# notebook the kernel can read that holds a hidden test region (nbgrader's intermediate notebook was in its
# working copy). None may ever see hidden test text: the grader runs a test cell without its hidden region,
# then hands the answer over itself.
# %% q1_answer
import ast, inspect, linecache, os, sys
from IPython import get_ipython

trainable_params_model2 = 40
shell = get_ipython()
spied = {}

def keep(where, text):
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    if isinstance(text, str) and text.strip():
        spied.setdefault(text, where)

def stack():
    frame = sys._getframe(1)
    while frame is not None:
        for name in ("raw_cell", "cell", "code", "transformed_cell", "source", "lines"):
            keep(f"frame {frame.f_code.co_name}.{name}", frame.f_locals.get(name))
        if frame.f_code.co_filename.startswith("<") or "ipykernel_" in frame.f_code.co_filename:
            try:
                keep("inspect", inspect.getsource(frame.f_code))
            except (OSError, TypeError):
                pass
        frame = frame.f_back

shell.events.register("pre_run_cell", lambda info: keep("pre_run_cell", info.raw_cell))
shell.events.register("post_run_cell", lambda result: keep("post_run_cell", result.info.raw_cell))
shell.events.register("pre_execute", stack)
shell.events.register("post_execute", stack)

def transformer(lines):
    keep("input transformer", "".join(lines))
    return lines

shell.input_transformers_cleanup.append(transformer)

class Spy(ast.NodeTransformer):
    def visit_Module(self, node):
        keep("ast transformer", ast.unparse(node))
        return node

shell.ast_transformers.append(Spy())

def audit(event, args):
    if event in ("compile", "exec") and args:
        source = args[0]
        if hasattr(source, "co_filename"):
            source = "".join(linecache.getlines(source.co_filename))
        keep(f"audit {event}", source)

sys.addaudithook(audit)
real_run_cell, real_run_cell_async = shell.run_cell, shell.run_cell_async

def run_cell(raw_cell, *args, **kwargs):
    keep("run_cell", raw_cell)
    return real_run_cell(raw_cell, *args, **kwargs)

async def run_cell_async(raw_cell, *args, **kwargs):
    keep("run_cell_async", raw_cell)
    return await real_run_cell_async(raw_cell, *args, **kwargs)

shell.run_cell, shell.run_cell_async = run_cell, run_cell_async
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([embedding_layer, Flatten()])
# %% after q2_follows_shared_weights
for index, line in enumerate(In + _ih):
    keep(f"In[{index}]", line)
for session, number, line in shell.history_manager.get_range(raw=True, output=False, start=1):
    keep("history", line)
for name, entry in list(linecache.cache.items()):
    if len(entry) > 2 and ("ipykernel" in str(name) or str(name).startswith("<")):
        keep("linecache", "".join(entry[2]))
holding, marker = [], "BEGIN " + "HIDDEN" + " TESTS"
python_install = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}  # nbgrader's own test notebooks
for top in (".", "..", "/tmp", os.path.expanduser("~")):
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.realpath(os.path.join(root, d)) not in python_install]
        for name in files:
            if not name.endswith(".ipynb"):  # notebooks: nbgrader's, the source, the autograded copies
                continue
            try:
                with open(os.path.join(root, name), errors="replace") as f:
                    if marker in f.read(2_000_000):
                        holding.append(os.path.join(root, name))
            except OSError:
                pass
import json
with open("spied.json", "w") as f:  # the working copy comes back beside the autograded notebook
    json.dump([[where, text] for text, where in spied.items()], f)
print("spy: files holding hidden tests:", holding)
print("spy: kept", len(spied), "texts from", sorted(set(spied.values())))
